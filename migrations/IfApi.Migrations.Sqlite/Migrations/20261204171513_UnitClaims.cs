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

            // The free runs become the new pools: each pool's top run (up to its end) is its fresh
            // units, every lower run a row per unit.
            migrationBuilder.Sql("""
                INSERT INTO unit_pools (pool, fresh, hi)
                SELECT p.pool, coalesce((SELECT f.lo FROM free_ranges AS f WHERE f.pool = p.pool AND f.hi = p.hi), CAST(p.hi AS bigint) + 1), p.hi
                FROM (SELECT name AS pool, max_unit AS hi FROM cloners
                      UNION ALL SELECT '#ifindex', 2147483647 WHERE EXISTS (SELECT 1 FROM meta WHERE key = 'bootstrapped')) AS p;
                """);
            migrationBuilder.Sql("""
                WITH RECURSIVE r(pool, unit, hi) AS (
                    SELECT f.pool, f.lo, f.hi FROM free_ranges AS f JOIN unit_pools AS p ON p.pool = f.pool WHERE f.lo < p.fresh
                    UNION ALL SELECT pool, unit + 1, hi FROM r WHERE unit < hi)
                INSERT INTO free_units (pool, unit) SELECT r.pool, r.unit FROM r JOIN unit_pools AS p ON p.pool = r.pool WHERE r.unit < p.fresh;
                """);

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

            // Runs of free units back into free ranges, the fresh units joined to the run below them.
            migrationBuilder.Sql("""
                INSERT INTO free_ranges (pool, lo, hi)
                SELECT i.pool, i.lo, CASE WHEN i.hi = p.fresh - 1 AND p.fresh <= p.hi THEN p.hi ELSE i.hi END
                FROM (SELECT pool, min(unit) AS lo, max(unit) AS hi
                      FROM (SELECT pool, unit, unit - row_number() OVER (PARTITION BY pool ORDER BY unit) AS grp FROM free_units) AS u
                      GROUP BY pool, grp) AS i
                JOIN unit_pools AS p ON p.pool = i.pool;
                """);
            migrationBuilder.Sql("""
                INSERT INTO free_ranges (pool, lo, hi)
                SELECT p.pool, p.fresh, p.hi FROM unit_pools AS p
                WHERE p.fresh <= p.hi AND NOT EXISTS (SELECT 1 FROM free_units AS f WHERE f.pool = p.pool AND f.unit = p.fresh - 1);
                """);

            migrationBuilder.DropTable(
                name: "free_units");

            migrationBuilder.DropTable(
                name: "unit_pools");
        }
    }
}
