using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// How the two stores take locks. PostgreSQL: row locks, and transaction-scoped advisory locks keyed
/// by the server's hash of a name. SQLite: the database has one writer and <c>BEGIN IMMEDIATE</c>
/// already holds it, so there is nothing more to take.
/// </summary>
internal static class StoreDialect
{
    /// <summary>A PostgreSQL batch of <paramref name="commands"/> on the connection and in the transaction of <paramref name="db"/>.</summary>
    public static NpgsqlBatch PgBatch(IfDbContext db, params NpgsqlBatchCommand[] commands)
    {
        var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction());
        foreach (var command in commands)
            batch.BatchCommands.Add(command);
        return batch;
    }

    public static Task LockAsync(IfDbContext db, StoreProvider provider, string name, CancellationToken ct) =>
        provider == StoreProvider.Postgres
            ? db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({name}))", ct)
            : Task.CompletedTask;

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
    /// Locks a cloner's row until the transaction ends (PostgreSQL <c>FOR UPDATE</c>): a create of one
    /// of its clones holds it shared through the interface's foreign key, so the two take turns.
    /// </summary>
    public static Task LockClonerAsync(IfDbContext db, StoreProvider provider, string vnet, string cloner, CancellationToken ct) =>
        provider == StoreProvider.Postgres
            ? db.Database.ExecuteSqlAsync($"SELECT 1 FROM cloners WHERE vnet = {vnet} AND name = {cloner} FOR UPDATE", ct)
            : Task.CompletedTask;
}
