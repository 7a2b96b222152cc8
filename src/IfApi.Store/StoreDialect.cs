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
    /// Locks interface rows until the transaction ends (PostgreSQL <c>FOR UPDATE</c>; SQLite's one
    /// writer holds everything already). Taken before any group lock, by everyone, so the two kinds
    /// of lock are always taken in one order.
    /// </summary>
    public static void LockRows(IfDbContext db, StoreProvider provider, Guid[] ids)
    {
        if (provider == StoreProvider.Postgres)
            db.Database.ExecuteSql($"SELECT 1 FROM interfaces WHERE id = ANY({ids}) FOR UPDATE");
    }
}
