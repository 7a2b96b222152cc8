using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace IfApi.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class BridgeMembers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // SQLite adds a column with its foreign key in place (the column starts out null, which
            // ALTER TABLE allows); AddForeignKey would rebuild the table with foreign keys off,
            // which cannot run inside the migration's transaction.
            migrationBuilder.Sql(
                "ALTER TABLE \"interfaces\" ADD COLUMN \"bridge_id\" TEXT NULL " +
                "CONSTRAINT \"FK_interfaces_interfaces_bridge_id\" REFERENCES \"interfaces\" (\"id\") ON DELETE SET NULL;");

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_bridge_id",
                table: "interfaces",
                column: "bridge_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_interfaces_interfaces_bridge_id",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_bridge_id",
                table: "interfaces");

            migrationBuilder.DropColumn(
                name: "bridge_id",
                table: "interfaces");
        }
    }
}
