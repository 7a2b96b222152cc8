using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

/// <summary>
/// The one thing the two stores do differently: how a transaction takes a pool's lock.
/// PostgreSQL: a transaction-scoped advisory lock per pool, so creates on different cloners do not
/// wait for each other. SQLite: the database has one writer and <c>BEGIN IMMEDIATE</c> already holds
/// it, so there is nothing more to take.
/// </summary>
internal static class StoreDialect
{
    public static void Lock(IfDbContext db, StoreProvider provider, string pool)
    {
        if (provider == StoreProvider.Postgres)
            db.Database.ExecuteSql($"SELECT pg_advisory_xact_lock({LockKey(pool)})");
    }

    /// <summary>FNV-1a of the pool name: stable across processes and releases. A collision costs waiting, never correctness.</summary>
    internal static long LockKey(string pool)
    {
        var h = 14695981039346656037UL;
        foreach (var c in pool)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return unchecked((long)h);
    }
}
