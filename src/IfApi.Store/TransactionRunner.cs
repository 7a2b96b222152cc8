using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
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
/// rolls back and reaches the caller; a store that cannot be reached becomes an <see cref="IfError"/> with
/// <see cref="Errno.EAGAIN"/> (the outcome of a commit that failed half-way is unknown: the client retries).
/// </summary>
public sealed class TransactionRunner(IDbContextFactory<IfDbContext> factory, StoreOptions options, EventSignals events,
    UnitPoolExtender extender, ClonerCache cloners, ILogger<TransactionRunner> log)
{
    // The transaction a batch (or a dry run) holds open: operations run inside it join it.
    private static readonly AsyncLocal<StoreSession?> Joined = new();

    /// <summary>Whether the code running now is inside a dry run: whatever it changes is rolled back.</summary>
    public static bool InDryRun => Joined.Value?.DryRun == true;

    /// <summary>
    /// Runs <paramref name="work"/> in one write transaction through a <see cref="StoreSession"/>;
    /// <paramref name="actor"/> is written into every event it announces. Inside
    /// <see cref="BatchAsync{T}"/> it runs in the batch's transaction instead, and its writes are sent
    /// before it returns, so that what comes next in the batch sees them.
    /// </summary>
    public async Task<T> WriteAsync<T>(string? actor, Func<StoreSession, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        if (Joined.Value is not { } joined)
            return await TransactionAsync(actor, dryRun: false, (s, ct) => RunAsync(s, work, ct), ct);
        var result = await RunAsync(joined, work, ct);
        await joined.SaveAsync(ct);
        joined.Forget(); // the next operation reads what this one wrote afresh, as its own transaction would
        return result;
    }

    /// <summary>
    /// Runs <paramref name="body"/> as one transaction: every <see cref="WriteAsync{T}"/> and
    /// <see cref="ReadAsync{T}"/> it makes joins it, in order, each seeing what the ones before it
    /// wrote. An exception rolls all of it back; a lost race runs the whole body again. With
    /// <paramref name="dryRun"/> everything is checked and done as it would be, then rolled back:
    /// no event is written, no unit pool grows outside it, nothing runs after it. Inside a batch
    /// already, <paramref name="body"/> is simply part of it.
    /// </summary>
    public async Task<T> BatchAsync<T>(string? actor, bool dryRun, Func<CancellationToken, Task<T>> body, CancellationToken ct)
    {
        if (Joined.Value is { } joined)
        {
            // Inside a batch already: it is the transaction. A dry run cannot be part of one that commits.
            if (dryRun && !joined.DryRun)
                throw new InvalidOperationException("a dry run inside a batch that commits");
            return await body(ct);
        }
        return await TransactionAsync(actor, dryRun, async (session, ct) =>
        {
            Joined.Value = session; // for this attempt's body only: an async method's changes stay in it
            try
            {
                return await body(ct);
            }
            finally
            {
                Joined.Value = null;
            }
        }, ct);
    }

    /// <summary>
    /// One transaction through a fresh <see cref="StoreSession"/> per attempt: commit it (its last
    /// writes and the COMMIT in one round trip where it can), or with <paramref name="dryRun"/> send
    /// it all, so what the store would refuse is refused, and roll it back. The work after the commit
    /// runs once, for the attempt that committed.
    /// </summary>
    private async Task<T> TransactionAsync<T>(string? actor, bool dryRun, Func<StoreSession, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        StoreSession? last = null;
        var result = await RunWriteAsync(async (db, ct) =>
        {
            var session = last = new StoreSession(db, options.Provider, dryRun ? UnitPoolExtender.InPlace : extender, cloners, actor, dryRun);
            var result = await work(session, ct);
            if (dryRun)
            {
                await session.SaveAsync(ct);
                db.RollBack = true;
                return result;
            }
            db.Announced = session.Announced;
            db.Committed = await session.SaveAndCommitAsync(ct);
            return result;
        }, ct);
        await last!.AfterCommitAsync(ct); // nothing is queued after a dry run
        return result;
    }

    /// <summary>
    /// <paramref name="work"/> on <paramref name="session"/>. When it is refused while reads wait for
    /// the next round trip, they go first: a name taken, or cloners changed, is the answer rather than
    /// what was refused after them.
    /// </summary>
    private static async Task<T> RunAsync<T>(StoreSession session, Func<StoreSession, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        try
        {
            return await work(session, ct);
        }
        catch (IfError) when (session.HasPendingChecks)
        {
            await session.FlushChecksAsync(ct);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/>, which only reads, through a <see cref="StoreSession"/> (a batch's, inside one).</summary>
    public Task<T> ReadAsync<T>(Func<StoreSession, CancellationToken, Task<T>> work, CancellationToken ct) =>
        Joined.Value is { } joined
            ? work(joined, ct)
            : RunReadAsync((db, ct) => work(new StoreSession(db, options.Provider, extender, cloners, null), ct), ct);

    // SQLite has one writer. Waiting here, in order, is cheaper and fairer than every connection
    // polling the file lock with busy retries.
    private readonly SemaphoreSlim _sqliteWriter = new(1, 1);

    internal async Task<T> RunWriteAsync<T>(Func<IfDbContext, CancellationToken, Task<T>> work, CancellationToken ct)
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
                // A failed statement fails the whole transaction, which runs again from the start: no
                // savepoint around each SaveChanges, which would cost two round trips more.
                db.Database.AutoSavepointsEnabled = false;
                db.Announced = db.Committed = db.RollBack = false; // a pooled context may have been used before
                var result = await work(db, ct);
                if (db.RollBack)
                {
                    await tx.RollbackAsync(ct);
                    return result;
                }
                var announces = db.Announced || db.ChangeTracker.Entries<EventRow>().Any();
                if (!db.Committed)
                {
                    await db.SaveChangesAsync(ct);
                    committing = true;
                    await tx.CommitAsync(ct);
                }
                if (announces)
                    events.Kick();
                return result;
            }
            catch (Exception e) when (VnetGone(e))
            {
                // Not a race to run again: the vnet the request works in was deleted by another replica
                // after this one last saw it (a replica believes a vnet it found for a second).
                throw new IfError(Errno.ENXIO, "a vnet this change is in or goes to was deleted meanwhile", cause: e);
            }
            catch (CommitFailedException e) when (!IsUnreachable(e.InnerException!) && !IsRace(e.InnerException!))
            {
                ExceptionDispatchInfo.Throw(e.InnerException!);
                throw;
            }
            catch (Exception e) when (!committing && e is not CommitFailedException && IsRace(e) && ++races < options.MaxAttempts)
            {
                log.LogDebug(e, "transaction lost a race, attempt {Attempt}", races);
                StoreMetrics.Retried("race");
                pause = Backoff(races);
            }
            catch (Exception e) when (!committing && e is not CommitFailedException && IsUnreachable(e) && ++outages < 3)
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
                throw IfError.StoreUnavailable(committing || e is CommitFailedException ? "the store failed while committing" : "the store is unavailable", e);
            }
            finally
            {
                try
                {
                    if (db is not null)
                        await db.DisposeAsync();
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

    internal async Task<T> RunReadAsync<T>(Func<IfDbContext, CancellationToken, Task<T>> work, CancellationToken ct)
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
                throw IfError.StoreUnavailable("the store is unavailable", e);
            }
        }
    }

    /// <summary>
    /// Takes a named lock for the rest of the transaction (PostgreSQL: an advisory lock on the
    /// server's hash of the name; SQLite: <c>BEGIN IMMEDIATE</c> holds the one writer already).
    /// For what needs one writer at a time across replicas: the first start, event numbering.
    /// </summary>
    internal Task LockAsync(IfDbContext db, string name, CancellationToken ct) => StoreDialect.LockAsync(db, options.Provider, name, ct);

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
        PostgresException p => LostConnection(p),
        NpgsqlException n => n.InnerException is SocketException or IOException || n.InnerException is null && n.IsTransient,
        _ => false,
    };

    /// <summary>An error that ends the session (connection exceptions, the server going down), not the statement.</summary>
    internal static bool LostConnection(PostgresException p) =>
        p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal);

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

    /// <summary>
    /// A row was written into a vnet that no longer exists (its foreign key to <c>vnets</c>).
    /// SQLite names no constraint, and its one writer races with nobody: its only foreign key a write can
    /// miss is that one (several processes on one file: the tests).
    /// </summary>
    private static bool VnetGone(Exception e) => Unwrap(e) switch
    {
        PostgresException p => p is { SqlState: PostgresErrorCodes.ForeignKeyViolation, ConstraintName: "FK_interfaces_vnets_vnet" or "FK_cloners_vnets_vnet" },
        SqliteException s => s.SqliteExtendedErrorCode == 787, // SQLITE_CONSTRAINT_FOREIGNKEY
        _ => false,
    };

    internal static bool IsUnreachable(Exception e) => Unwrap(e) switch
    {
        PostgresException p => LostConnection(p)
            || p.SqlState == PostgresErrorCodes.TooManyConnections || p.SqlState == PostgresErrorCodes.CannotConnectNow,
        NpgsqlException n => n.IsTransient || n.InnerException is SocketException or IOException or TimeoutException,
        SqliteException s => s.SqliteErrorCode is 5 or 6 or 10 or 14, // BUSY, LOCKED, IOERR, CANTOPEN
        TimeoutException or SocketException => true,
        InvalidOperationException io when io.InnerException is DbException => IsUnreachable(io.InnerException),
        _ => false,
    };

    private static Exception Unwrap(Exception e)
    {
        // EF wraps what the driver threw: in DbUpdateException when saving, and that (or the driver's
        // exception) in InvalidOperationException when its execution strategy saw a transient failure.
        // A COMMIT sent with the last writes wraps what failed in CommitFailedException.
        while (e.InnerException is not null && e is DbUpdateException or CommitFailedException or InvalidOperationException { InnerException: DbException or DbUpdateException })
            e = e.InnerException;
        return e;
    }
}
