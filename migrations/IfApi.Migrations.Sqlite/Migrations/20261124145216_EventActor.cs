using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace IfApi.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class EventActor : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "actor",
                table: "events",
                type: "TEXT",
                maxLength: 64,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "actor",
                table: "events");
        }
    }
}
