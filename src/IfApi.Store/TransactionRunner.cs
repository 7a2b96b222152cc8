using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using IfApi.Domain;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// Runs one operation as one transaction. A transaction that lost a race with another writer (a
/// serialization failure, a deadlock, a unique or foreign key another transaction changed first) is
/// rolled back and run again from the start, so clients never see those races. An <see cref="IfError"/>
/// rolls back and reaches the caller; a store that cannot be reached becomes <see cref="StoreUnavailableException"/>.
/// </summary>
public sealed class TransactionRunner(IDbContextFactory<IfDbContext> factory, StoreOptions options, ILogger<TransactionRunner> log)
{
    // SQLite has one writer. Waiting here, in order, is cheaper and fairer than every connection
    // polling the file lock with busy retries.
    private readonly SemaphoreSlim _sqliteWriter = new(1, 1);

    public StoreProvider Provider => options.Provider;

    public async Task<T> WriteAsync<T>(Func<IfDbContext, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var gated = false;
            var committing = false;
            try
            {
                if (options.Provider == StoreProvider.Sqlite)
                {
                    await _sqliteWriter.WaitAsync(ct);
                    gated = true;
                }
                await using var db = await factory.CreateDbContextAsync(ct);
                // PostgreSQL: READ COMMITTED plus the pool locks gives each statement a fresh view of
                // what the previous holder committed. SQLite: BEGIN IMMEDIATE (its Serializable).
                var isolation = options.Provider == StoreProvider.Postgres ? IsolationLevel.ReadCommitted : IsolationLevel.Serializable;
                await using var tx = await db.Database.BeginTransactionAsync(isolation, ct);
                var result = await work(db, ct);
                await db.SaveChangesAsync(ct);
                committing = true;
                await tx.CommitAsync(ct);
                return result;
            }
            catch (Exception e) when (!committing && attempt < options.MaxAttempts && IsRace(e))
            {
                log.LogDebug(e, "transaction lost a race, attempt {Attempt}", attempt);
                await Task.Delay(Backoff(attempt), ct);
            }
            catch (Exception e) when (!committing && attempt < 3 && IsUnreachable(e))
            {
                log.LogWarning(e, "store unreachable, attempt {Attempt}", attempt);
                await Task.Delay(Backoff(attempt), ct);
            }
            catch (Exception e) when (IsUnreachable(e) || IsRace(e))
            {
                throw new StoreUnavailableException(committing ? "the store failed while committing" : "the store is unavailable", e);
            }
            finally
            {
                if (gated)
                    _sqliteWriter.Release();
            }
        }
    }

    public async Task<T> ReadAsync<T>(Func<IfDbContext, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var db = await factory.CreateDbContextAsync(ct);
                return await work(db, ct);
            }
            catch (Exception e) when (attempt < 3 && IsUnreachable(e))
            {
                await Task.Delay(Backoff(attempt), ct);
            }
            catch (Exception e) when (IsUnreachable(e))
            {
                throw new StoreUnavailableException("the store is unavailable", e);
            }
        }
    }

    /// <summary>Takes a pool's lock for the rest of the transaction.</summary>
    public Task LockAsync(IfDbContext db, string pool, CancellationToken ct) => StoreDialect.LockAsync(db, options.Provider, pool, ct);

    private static TimeSpan Backoff(int attempt) =>
        TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 << Math.Min(attempt, 6)));

    internal static bool IsRace(Exception e) => Unwrap(e) switch
    {
        PostgresException p => p.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
            or PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ForeignKeyViolation or PostgresErrorCodes.LockNotAvailable,
        // SQLITE_CONSTRAINT (19) from a writer in another process; SQLITE_BUSY (5) is a wait that timed out.
        SqliteException s => s.SqliteErrorCode is 19,
        _ => false,
    };

    internal static bool IsUnreachable(Exception e) => Unwrap(e) switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal)
            || p.SqlState == PostgresErrorCodes.TooManyConnections || p.SqlState == PostgresErrorCodes.CannotConnectNow,
        NpgsqlException n => n.IsTransient || n.InnerException is SocketException or IOException or TimeoutException,
        SqliteException s => s.SqliteErrorCode is 5 or 6 or 10 or 14, // BUSY, LOCKED, IOERR, CANTOPEN
        TimeoutException or SocketException => true,
        InvalidOperationException io when io.InnerException is DbException => IsUnreachable(io.InnerException),
        _ => false,
    };

    private static Exception Unwrap(Exception e)
    {
        while (e is DbUpdateException or InvalidOperationException { InnerException: DbException } && e.InnerException is not null)
            e = e.InnerException;
        return e;
    }
}
