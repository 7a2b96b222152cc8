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
public sealed class TransactionRunner(IDbContextFactory<IfDbContext> factory, StoreOptions options, EventSignals events, ILogger<TransactionRunner> log)
{
    // SQLite has one writer. Waiting here, in order, is cheaper and fairer than every connection
    // polling the file lock with busy retries.
    private readonly SemaphoreSlim _sqliteWriter = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> _poolGates = new(StringComparer.Ordinal);

    public async Task<T> WriteAsync<T>(Func<IfDbContext, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        int races = 0, outages = 0;
        while (true)
        {
            TimeSpan pause;
            var gated = false;
            var committing = false;
            IfDbContext? db = null;
            try
            {
                if (options.Provider == StoreProvider.Sqlite)
                {
                    await _sqliteWriter.WaitAsync(ct);
                    gated = true;
                }
                db = await factory.CreateDbContextAsync(ct);
                // PostgreSQL: READ COMMITTED plus the pool locks gives each statement a fresh view of
                // what the previous holder committed. SQLite: BEGIN IMMEDIATE (its Serializable).
                var isolation = options.Provider == StoreProvider.Postgres ? IsolationLevel.ReadCommitted : IsolationLevel.Serializable;
                await using var tx = await db.Database.BeginTransactionAsync(isolation, ct);
                var result = await work(db, ct);
                var announces = db.ChangeTracker.Entries<EventRow>().Any();
                if (db.HoldsPoolLock)
                {
                    // Still under the pool lock: synchronously, as LockAsync explains.
                    db.SaveChanges();
                    committing = true;
                    tx.Commit();
                }
                else
                {
                    await db.SaveChangesAsync(ct);
                    committing = true;
                    await tx.CommitAsync(ct);
                }
                if (announces)
                    events.Kick();
                return result;
            }
            catch (Exception e) when (!committing && IsRace(e) && ++races < options.MaxAttempts)
            {
                log.LogDebug(e, "transaction lost a race, attempt {Attempt}", races);
                StoreMetrics.Retried("race");
                pause = Backoff(races);
            }
            catch (Exception e) when (!committing && IsUnreachable(e) && ++outages < 3)
            {
                log.LogWarning(e, "store unreachable, attempt {Attempt}", outages);
                StoreMetrics.Retried("outage");
                ForgetBrokenConnections(e);
                pause = Backoff(outages);
            }
            catch (Exception e) when (IsUnreachable(e) || IsRace(e))
            {
                ForgetBrokenConnections(e);
                // A failure during COMMIT leaves the outcome unknown; the client is told to retry.
                throw new StoreUnavailableException(committing ? "the store failed while committing" : "the store is unavailable", e);
            }
            finally
            {
                // The transaction has ended (committed, or rolled back when it was disposed): let the
                // next one on these pools in before anything else, sleeping included.
                try
                {
                    if (db is not null)
                    {
                        foreach (var gate in db.HeldGates)
                            gate.Release();
                        db.HeldGates.Clear();
                        db.HoldsPoolLock = false;
                        await db.DisposeAsync();
                    }
                }
                finally
                {
                    if (gated)
                        _sqliteWriter.Release();
                }
            }
            await Task.Delay(pause, ct);
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
                ForgetBrokenConnections(e);
                await Task.Delay(Backoff(attempt), ct);
            }
            catch (Exception e) when (IsUnreachable(e))
            {
                ForgetBrokenConnections(e);
                throw new StoreUnavailableException("the store is unavailable", e);
            }
        }
    }

    /// <summary>Locks interface rows for the rest of the transaction; see <see cref="StoreDialect.LockRowsAsync"/>.</summary>
    public Task LockRowsAsync(IfDbContext db, Guid[] ids, CancellationToken ct) => StoreDialect.LockRowsAsync(db, options.Provider, ids, ct);

    /// <summary>Takes a group's lock for the rest of the transaction; see <see cref="StoreDialect.LockGroupAsync"/>.</summary>
    public Task LockGroupAsync(IfDbContext db, string group, CancellationToken ct) => StoreDialect.LockGroupAsync(db, options.Provider, group, ct);

    /// <summary>
    /// Takes a pool's lock for the rest of the transaction. Every other writer of the pool waits
    /// while it is held, so the holder's statements must not wait either:
    /// <list type="bullet">
    /// <item>Transactions of this process queue for the pool here first, in the same order as the
    /// advisory locks, so a waiter costs nothing and the holder's work does not queue for CPU behind
    /// requests that could not proceed anyway. The advisory lock orders this process against others.</item>
    /// <item>From here to commit, statements run synchronously: an awaited round trip wakes the
    /// socket thread and then a pool thread, a blocked one only itself, and on a small VM each
    /// wake-up is a large part of a round trip (the create/destroy benchmark's one-client cycle went
    /// from 16 ms to 9.5 ms at the median). The gate bounds this to one blocked thread per held pool.</item>
    /// </list>
    /// </summary>
    public async Task LockAsync(IfDbContext db, string pool, CancellationToken ct)
    {
        if (options.Provider == StoreProvider.Postgres)
        {
            var gate = _poolGates.GetOrAdd(pool, static _ => new SemaphoreSlim(1, 1));
            if (!db.HeldGates.Contains(gate))
            {
                await gate.WaitAsync(ct);
                db.HeldGates.Add(gate);
            }
        }
        db.HoldsPoolLock = true;
        StoreDialect.Lock(db, options.Provider, pool);
    }

    /// <summary>
    /// Pooled connections that saw the server go away are useless: drop them, so the next try opens
    /// fresh ones. A statement that merely timed out leaves its connection and the pool alone.
    /// </summary>
    private void ForgetBrokenConnections(Exception e)
    {
        if (options.Provider == StoreProvider.Postgres && IsBroken(e))
            NpgsqlConnection.ClearAllPools();
    }

    private static bool IsBroken(Exception e) => Unwrap(e) switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal),
        NpgsqlException n => n.InnerException is SocketException or IOException || n.InnerException is null && n.IsTransient,
        _ => false,
    };

    private static TimeSpan Backoff(int attempt) =>
        TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 << Math.Min(attempt, 6)));

    internal static bool IsRace(Exception e) => Unwrap(e) switch
    {
        PostgresException p => p.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
            or PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ForeignKeyViolation or PostgresErrorCodes.LockNotAvailable,
        // SQLite: BEGIN IMMEDIATE takes the write lock before the first read, so no write races.
        RaceLostException or DbUpdateConcurrencyException => true,
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
