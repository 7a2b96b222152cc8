using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

/// <summary>
/// The one thing the two stores do differently: how a transaction takes a pool's lock.
/// PostgreSQL: a transaction-scoped advisory lock per pool, keyed by the server's hash of the pool
/// name, so creates on different cloners do not wait for each other. The locked path takes it
/// exclusively, <see cref="PgFastPath"/> shared (a statement there finds the key from a row, which is
/// why the server computes it). SQLite: the database has one writer and <c>BEGIN IMMEDIATE</c>
/// already holds it, so there is nothing more to take.
/// </summary>
internal static class StoreDialect
{
    public static void Lock(IfDbContext db, StoreProvider provider, string pool)
    {
        if (provider == StoreProvider.Postgres)
            db.Database.ExecuteSql($"SELECT pg_advisory_xact_lock(hashtext({pool}))");
    }

    /// <summary>
    /// Locks interface rows until the transaction ends (PostgreSQL <c>FOR NO KEY UPDATE</c>, which a
    /// foreign key check on the row does not wait for; SQLite's one writer holds everything already).
    /// Everyone that locks rows and groups locks the rows first.
    /// </summary>
    public static Task LockRowsAsync(IfDbContext db, StoreProvider provider, Guid[] ids, CancellationToken ct) =>
        provider == StoreProvider.Postgres
            ? db.Database.ExecuteSqlAsync($"SELECT 1 FROM interfaces WHERE id = ANY({ids}) FOR NO KEY UPDATE", ct)
            : Task.CompletedTask;

    /// <summary>
    /// A group's lock, PostgreSQL's advisory lock alone: those who wait for it also hold row locks, and
    /// only waits the server can see are waits its deadlock detector can break.
    /// </summary>
    public static Task LockGroupAsync(IfDbContext db, StoreProvider provider, string group, CancellationToken ct) =>
        provider == StoreProvider.Postgres
            ? db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({Pools.Group(group)}))", ct)
            : Task.CompletedTask;
}
