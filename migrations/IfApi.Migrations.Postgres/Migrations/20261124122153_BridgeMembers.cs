using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace IfApi.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class BridgeMembers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<Guid>(
                name: "bridge_id",
                table: "interfaces",
                type: "uuid",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_bridge_id",
                table: "interfaces",
                column: "bridge_id");

            migrationBuilder.AddForeignKey(
                name: "FK_interfaces_interfaces_bridge_id",
                table: "interfaces",
                column: "bridge_id",
                principalTable: "interfaces",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);
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
