namespace IfApi.Store;

/// <summary>
/// SQL that moves data when the schema changes shape, the same for both providers' migrations
/// (each provider has its own migration set under migrations/; the data moves alike).
/// </summary>
public static class DataMigrations
{
    /// <summary>UnitClaims, up: the free runs become pools. Each pool's top run (up to its end) is its fresh units.</summary>
    public const string PoolsFromFreeRuns = """
        INSERT INTO unit_pools (pool, fresh, hi)
        SELECT p.pool, coalesce((SELECT f.lo FROM free_ranges AS f WHERE f.pool = p.pool AND f.hi = p.hi), CAST(p.hi AS bigint) + 1), p.hi
        FROM (SELECT name AS pool, max_unit AS hi FROM cloners
              UNION ALL SELECT '#ifindex', 2147483647 WHERE EXISTS (SELECT 1 FROM meta WHERE key = 'bootstrapped')) AS p;
        """;

    /// <summary>UnitClaims, up: every lower run a row per unit.</summary>
    public const string FreeUnitsFromFreeRuns = """
        WITH RECURSIVE r(pool, unit, hi) AS (
            SELECT f.pool, f.lo, f.hi FROM free_ranges AS f JOIN unit_pools AS p ON p.pool = f.pool WHERE f.lo < p.fresh
            UNION ALL SELECT pool, unit + 1, hi FROM r WHERE unit < hi)
        INSERT INTO free_units (pool, unit) SELECT r.pool, r.unit FROM r JOIN unit_pools AS p ON p.pool = r.pool WHERE r.unit < p.fresh;
        """;

    /// <summary>UnitClaims, down: runs of free units back into free ranges, the fresh units joined to the run below them.</summary>
    public const string FreeRunsFromFreeUnits = """
        INSERT INTO free_ranges (pool, lo, hi)
        SELECT i.pool, i.lo, CASE WHEN i.hi = p.fresh - 1 AND p.fresh <= p.hi THEN p.hi ELSE i.hi END
        FROM (SELECT pool, min(unit) AS lo, max(unit) AS hi
              FROM (SELECT pool, unit, unit - row_number() OVER (PARTITION BY pool ORDER BY unit) AS grp FROM free_units) AS u
              GROUP BY pool, grp) AS i
        JOIN unit_pools AS p ON p.pool = i.pool;
        """;

    /// <summary>UnitClaims, down: the fresh units as a run of their own where no free unit adjoins them.</summary>
    public const string FreeRunsFromFreshUnits = """
        INSERT INTO free_ranges (pool, lo, hi)
        SELECT p.pool, p.fresh, p.hi FROM unit_pools AS p
        WHERE p.fresh <= p.hi AND NOT EXISTS (SELECT 1 FROM free_units AS f WHERE f.pool = p.pool AND f.unit = p.fresh - 1);
        """;
}
