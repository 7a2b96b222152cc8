using System.Data.Common;
using IfApi.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// <see cref="IUnitPool"/> over <c>unit_pools</c> and <c>free_units</c> (see <see cref="UnitPoolRow"/>),
/// inside the caller's transaction. A claim deletes the lowest free row that no other transaction
/// holds (PostgreSQL <c>FOR UPDATE SKIP LOCKED</c>): concurrent creates on one pool each take another
/// unit and commit side by side, and a claim that rolls back puts its row back by itself. Only when
/// no unclaimed row is left are rows made for fresh units (<see cref="Extension"/>).
/// </summary>
internal sealed class StoredUnitPool(IfDbContext db, StoreProvider provider, string pool, UnitPoolExtender extender, PendingChecks checks) : IUnitPool
{
    public async ValueTask<int?> ClaimLowestAsync(int atOrAbove, CancellationToken ct)
    {
        while (true)
        {
            var sql = provider == StoreProvider.Postgres ? PgClaimLowest : SqliteClaimLowest;
            if (await ClaimAsync(sql, atOrAbove, ct) is int unit)
                return unit;
            // Every unit below fresh is allocated or claimed: make rows for the next fresh ones. None
            // left to make: another transaction may have made the last ones since the claim above
            // looked (it waited for the pool's row, and commits on its own), so look once more.
            if (!await extender.ExtendAsync(db, pool, atOrAbove, ct))
                return await ClaimAsync(sql, atOrAbove, ct);
        }
    }

    public async ValueTask<bool> ClaimAsync(int unit, CancellationToken ct)
    {
        var sql = provider == StoreProvider.Postgres ? PgClaimOne : SqliteClaimOne;
        while (true)
        {
            if (await ClaimAsync(sql, unit, ct) is int)
                return true;
            // No row: allocated, claimed, or fresh. Only a fresh unit can still be had.
            var fresh = await db.UnitPools.AsNoTracking().Where(p => p.Pool == pool).Select(p => (long?)p.Fresh).FirstOrDefaultAsync(ct)
                ?? throw new RaceLostException($"unit pool '{pool}' went away");
            if (unit >= fresh && await extender.ExtendAsync(db, pool, unit, ct))
                continue;
            // Not fresh now: it may have been made so by another transaction since the claim looked.
            return await ClaimAsync(sql, unit, ct) is int;
        }
    }

    /// <summary>Puts a claimed unit back at once, for the next claim of this transaction to see (a unit whose name is held).</summary>
    public async ValueTask ReleaseAsync(int unit, CancellationToken ct)
    {
        await using var command = Command("INSERT INTO free_units (pool, unit) VALUES ($1, $2)");
        Add(command, pool);
        Add(command, unit);
        await command.ExecuteNonQueryAsync(ct);
    }

    // The lowest free row of the pool from a unit up that nobody else has claimed, deleted. The row
    // is picked by a scalar subquery, which the server runs once: as the inner side of a join it
    // could run again for every row the delete scans, skipping the rows this statement deleted
    // already, and delete them all.
    internal const string PgClaimLowest = """
        DELETE FROM free_units WHERE pool = $1
          AND unit = (SELECT unit FROM free_units WHERE pool = $1 AND unit >= $2 ORDER BY unit LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING unit
        """;

    private const string PgClaimOne = """
        DELETE FROM free_units WHERE pool = $1
          AND unit = (SELECT unit FROM free_units WHERE pool = $1 AND unit = $2 FOR UPDATE SKIP LOCKED)
        RETURNING unit
        """;

    // SQLite has one writer, and this transaction is it.
    private const string SqliteClaimLowest = """
        DELETE FROM free_units WHERE pool = $1
          AND unit = (SELECT unit FROM free_units WHERE pool = $1 AND unit >= $2 ORDER BY unit LIMIT 1)
        RETURNING unit
        """;

    private const string SqliteClaimOne = "DELETE FROM free_units WHERE pool = $1 AND unit = $2 RETURNING unit";

    private async Task<int?> ClaimAsync(string sql, int unit, CancellationToken ct)
    {
        if (provider == StoreProvider.Postgres)
        {
            // Reads the transaction deferred go ahead of the claim.
            await using var batch = StoreDialect.PgBatch(db, new NpgsqlBatchCommand(sql) { Parameters = { new() { Value = pool }, new() { Value = unit } } });
            await using var reader = await checks.ExecuteAsync(batch, ct);
            return await reader.ReadAsync(ct) ? reader.GetInt32(0) : null;
        }
        await using var command = Command(sql);
        Add(command, pool);
        Add(command, unit);
        return await command.ExecuteScalarAsync(ct) is { } found and not DBNull ? Convert.ToInt32(found, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    private DbCommand Command(string sql) => UnitPoolExtender.Command(db, sql);

    private static void Add(DbCommand command, object value) => UnitPoolExtender.Add(command, value);
}

/// <summary>
/// Makes rows for fresh units of a pool, a few at a time (<see cref="Batch"/>). On PostgreSQL it runs
/// in a short transaction of its own, so the pool's row is locked only while it runs and never
/// through a create's commit: creates that ran out of rows together wait for one another only here.
/// SQLite has one writer: it runs in the caller's transaction. So does anything that made the pool
/// in the same transaction (<see cref="InPlace"/>), since nobody else can see it yet.
/// </summary>
public sealed class UnitPoolExtender
{
    /// <summary>How many fresh units one extension makes rows for: a few creates' worth, so extensions are rare.</summary>
    public const int Batch = 32;

    /// <summary>Where extensions run in transactions of their own; null: in the caller's.</summary>
    private readonly string? _pgConnectionString;

    public UnitPoolExtender(StoreOptions options)
        : this(options.Provider == StoreProvider.Postgres ? ConnectionsOfItsOwn(options.ConnectionString) : null)
    {
    }

    /// <summary>
    /// A few connections of its own (a pool apart, as Npgsql pools by connection string): the
    /// transaction that needs an extension holds one of the store's connections while it waits for
    /// it, so with every one of those held by creates at once, an extension drawing from the same
    /// pool would wait for them and they for it.
    /// </summary>
    private static string ConnectionsOfItsOwn(string connectionString)
    {
        var csb = new NpgsqlConnectionStringBuilder(StoreSetup.PostgresConnectionString(connectionString));
        csb.ApplicationName = $"{csb.ApplicationName ?? "ifapi"} (unit pools)";
        csb.MaxPoolSize = 4;
        csb.MinPoolSize = 0;
        return csb.ConnectionString;
    }

    private UnitPoolExtender(string? pgConnectionString) => _pgConnectionString = pgConnectionString;

    /// <summary>
    /// Extends each of <paramref name="pools"/> that exists and has no free row left, as its next
    /// create would, through a connection of its own: the first create after a start neither makes
    /// that connection nor runs these statements for the first time (a warm start). A pool with free
    /// rows is left as it is, so restarts do not pile them up.
    /// </summary>
    public async Task WarmAsync(IReadOnlyList<string> pools, CancellationToken ct)
    {
        if (_pgConnectionString is null)
            return;
        await using var connection = new NpgsqlConnection(_pgConnectionString);
        await connection.OpenAsync(ct);
        foreach (var pool in pools)
        {
            await using var tx = await connection.BeginTransactionAsync(ct);
            await using (var empty = new NpgsqlCommand(
                "SELECT EXISTS (SELECT 1 FROM unit_pools WHERE pool = $1) AND NOT EXISTS (SELECT 1 FROM free_units WHERE pool = $1)", connection, tx))
            {
                Add(empty, pool);
                if (await empty.ExecuteScalarAsync(ct) is not true)
                    continue;
            }
            await ExtendAsync(new NpgsqlCommand(SelectSql + " FOR UPDATE", connection, tx), pool, 0, ct);
            await tx.CommitAsync(ct);
        }
    }

    /// <summary>Extends in the caller's transaction: for a pool that transaction made.</summary>
    internal static UnitPoolExtender InPlace { get; } = new((string?)null);

    /// <summary>
    /// Makes rows for fresh units up to at least <paramref name="atLeast"/> (and <see cref="Batch"/>
    /// of them), never past the pool's end. False when every unit of the pool has been handed out
    /// once already, so there are no fresh ones; a pool that is gone makes the transaction run again.
    /// </summary>
    internal async Task<bool> ExtendAsync(IfDbContext db, string pool, int atLeast, CancellationToken ct)
    {
        if (_pgConnectionString is null)
            return await ExtendAsync(Command(db, SelectSql + (db.IsPostgres ? " FOR UPDATE" : "")), pool, atLeast, ct);
        await using var connection = new NpgsqlConnection(_pgConnectionString);
        await connection.OpenAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var extended = await ExtendAsync(new NpgsqlCommand(SelectSql + " FOR UPDATE", connection, tx), pool, atLeast, ct);
        await tx.CommitAsync(ct);
        return extended;
    }

    private const string SelectSql = "SELECT fresh, hi FROM unit_pools WHERE pool = $1";

    private static async Task<bool> ExtendAsync(DbCommand select, string pool, int atLeast, CancellationToken ct)
    {
        long fresh;
        int hi;
        Add(select, pool);
        await using (select)
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
                throw new RaceLostException($"unit pool '{pool}' went away");
            (fresh, hi) = (reader.GetInt64(0), reader.GetInt32(1));
        }
        if (fresh > hi || atLeast > hi)
            return false;
        var last = (int)Math.Min(hi, Math.Max(fresh + Batch - 1, atLeast));
        await using (var rows = Command(select, """
            WITH RECURSIVE series(unit) AS (SELECT $2 UNION ALL SELECT unit + 1 FROM series WHERE unit < $3)
            INSERT INTO free_units (pool, unit) SELECT $1, unit FROM series
            """))
        {
            Add(rows, pool);
            Add(rows, (int)fresh);
            Add(rows, last);
            await rows.ExecuteNonQueryAsync(ct);
        }
        await using var moved = Command(select, "UPDATE unit_pools SET fresh = $2 WHERE pool = $1");
        Add(moved, pool);
        Add(moved, (long)last + 1);
        await moved.ExecuteNonQueryAsync(ct);
        return true;
    }

    /// <summary>A new pool of units <paramref name="lo"/>..<paramref name="hi"/>, all free, in the caller's transaction.</summary>
    internal static async Task CreatePoolAsync(IfDbContext db, string pool, int lo, int hi, CancellationToken ct)
    {
        db.UnitPools.Add(new UnitPoolRow { Pool = pool, Fresh = lo, Hi = hi });
        await db.SaveChangesAsync(ct);
    }

    private static DbCommand Command(DbCommand beside, string sql)
    {
        var command = beside.Connection!.CreateCommand();
        command.Transaction = beside.Transaction;
        command.CommandText = sql;
        return command;
    }

    internal static DbCommand Command(IfDbContext db, string sql)
    {
        var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        command.CommandText = sql;
        return command;
    }

    /// <summary>A positional parameter (<c>$1</c>, <c>$2</c>, … in the order added), as both providers take them.</summary>
    internal static void Add(DbCommand command, object value)
    {
        var parameter = command.CreateParameter();
        if (command is not NpgsqlCommand)
            parameter.ParameterName = "$" + (command.Parameters.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
