using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace IfApi.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class UnitClaims : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "free_units",
                columns: table => new
                {
                    pool = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    unit = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_free_units", x => new { x.pool, x.unit });
                });

            migrationBuilder.CreateTable(
                name: "unit_pools",
                columns: table => new
                {
                    pool = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    fresh = table.Column<long>(type: "INTEGER", nullable: false),
                    hi = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_unit_pools", x => x.pool);
                });

            migrationBuilder.Sql(IfApi.Store.DataMigrations.PoolsFromFreeRuns);
            migrationBuilder.Sql(IfApi.Store.DataMigrations.FreeUnitsFromFreeRuns);

            migrationBuilder.DropTable(
                name: "free_ranges");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "free_ranges",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    hi = table.Column<int>(type: "INTEGER", nullable: false),
                    lo = table.Column<int>(type: "INTEGER", nullable: false),
                    pool = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_free_ranges", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_free_ranges_pool_hi",
                table: "free_ranges",
                columns: new[] { "pool", "hi" });

            migrationBuilder.CreateIndex(
                name: "IX_free_ranges_pool_lo",
                table: "free_ranges",
                columns: new[] { "pool", "lo" });

            migrationBuilder.Sql(IfApi.Store.DataMigrations.FreeRunsFromFreeUnits);
            migrationBuilder.Sql(IfApi.Store.DataMigrations.FreeRunsFromFreshUnits);

            migrationBuilder.DropTable(
                name: "free_units");

            migrationBuilder.DropTable(
                name: "unit_pools");
        }
    }
}
