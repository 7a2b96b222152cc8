using IfApi.Domain;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// One announcement of the routing socket (<c>rt_ifannouncemsg</c>, <c>rt_ifmsg</c>, the group and
/// cloner event handlers), written by the transaction that made the change: a rolled-back change
/// announces nothing and a committed one is never lost. <see cref="Pos"/>, the id subscribers see,
/// is stamped after commit by <see cref="EventSequencer"/>.
/// </summary>
public sealed class EventRow
{
    /// <summary>Insertion order; transactions commit in another order, so subscribers never see it.</summary>
    public long Id { get; set; }
    /// <summary>The event's public id: gapless and increasing in the order events became visible.</summary>
    public long? Pos { get; set; }
    /// <summary>When the change wrote it; on PostgreSQL the server's clock, the same for every replica.</summary>
    public DateTimeOffset At { get; set; }
    public required string Type { get; set; }
    /// <summary>The vnet whose stream it is in.</summary>
    public string Vnet { get; set; } = Vnets.Host;
    public Guid? InterfaceId { get; set; }
    /// <summary>The interface, group or cloner the event is about, by name.</summary>
    public string? Subject { get; set; }
    /// <summary>The event as JSON.</summary>
    public required string Data { get; set; }
    /// <summary>The API key whose request made the change; null when the service is open (no keys) or the service itself did it.</summary>
    public string? Actor { get; set; }
}

/// <summary>Adds events to the transaction at hand.</summary>
internal static class Outbox
{
    /// <summary>How the store writes JSON it keeps (event data, remembered answers).</summary>
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <param name="actor">The API key whose request made the change, if any.</param>
    public static void Add(IfDbContext db, Announcement announcement, string? actor) =>
        db.Events.Add(new EventRow
        {
            At = db.StampedNow,
            Type = announcement.Type,
            InterfaceId = announcement.InterfaceId,
            Subject = announcement.Subject,
            Data = JsonSerializer.Serialize(announcement, announcement.GetType(), Json),
            Actor = actor,
            Vnet = db.Vnet,
        });
}

/// <summary>A stamped event as subscribers get it.</summary>
public sealed record EventInfo(long Id, DateTimeOffset At, string Type, Guid? InterfaceId, string? Subject, string Data, string? Actor, string Vnet);

/// <summary>
/// Wake-ups between writers, the sequencer and subscribers, in one process. Writers kick after a
/// commit that wrote events; the sequencer announces after it gave ids (its own, or, through the
/// PostgreSQL channel, another replica's).
/// </summary>
public sealed class EventSignals
{
    private readonly SemaphoreSlim _work = new(0, int.MaxValue);
    private TaskCompletionSource _stamped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pending;
    private int _subscribers;

    /// <summary>Subscribers streaming from this process; while there are none, numbering can wait.</summary>
    public int Subscribers => Volatile.Read(ref _subscribers);

    /// <summary>Counts a subscriber for as long as the returned handle lives.</summary>
    public IDisposable Subscribe()
    {
        Interlocked.Increment(ref _subscribers);
        Interlocked.Exchange(ref _listener, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return new Unsubscribe(this);
    }

    private sealed class Unsubscribe(EventSignals signals) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
                Interlocked.Decrement(ref signals._subscribers);
        }
    }

    /// <summary>Events were committed: number them soon. Kicks while a round is pending fold into it.</summary>
    public void Kick()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
            _work.Release();
    }

    /// <summary>Waits for a kick or the timeout, whichever comes first.</summary>
    internal async Task WaitForWorkAsync(TimeSpan timeout, CancellationToken ct)
    {
        await _work.WaitAsync(timeout, ct);
        Interlocked.Exchange(ref _pending, 0);
    }

    private TaskCompletionSource _listener = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Waits out a quiet interval, cut short when a subscriber arrives (it should not wait for ids).</summary>
    internal async Task WaitForListenerAsync(TimeSpan wait, CancellationToken ct)
    {
        try
        {
            await Volatile.Read(ref _listener).Task.WaitAsync(wait, ct);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>Completes when new ids become visible.</summary>
    public Task Stamped => Volatile.Read(ref _stamped).Task;

    private void Announce() =>
        Interlocked.Exchange(ref _stamped, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    // The events this process numbered lately, by id, so its subscribers need not read them back
    // from the store. Ids another replica gave are not here; a reader that finds a hole reads the store.
    private const int Window = 8192;
    private readonly EventInfo?[] _recent = new EventInfo?[Window];
    private readonly Lock _recentLock = new();
    private long _known;

    /// <summary>The highest id known to be given, here or elsewhere.</summary>
    public long Known => Interlocked.Read(ref _known);

    /// <summary>This process numbered these events (in id order): keep them for its subscribers and wake them.</summary>
    public void Publish(IReadOnlyList<EventInfo> stamped)
    {
        if (stamped.Count == 0)
            return;
        lock (_recentLock)
        {
            foreach (var e in stamped)
                _recent[e.Id % Window] = e;
        }
        Heard(stamped[^1].Id);
    }

    /// <summary>Ids up to <paramref name="last"/> have been given (by any replica): wake subscribers if that is news.</summary>
    public void Heard(long last)
    {
        long known;
        while ((known = Interlocked.Read(ref _known)) < last)
        {
            if (Interlocked.CompareExchange(ref _known, last, known) == known)
            {
                Announce();
                return;
            }
        }
    }

    /// <summary>
    /// The events after <paramref name="after"/> that this process still holds, in order and without a
    /// hole, at most <paramref name="max"/>. <paramref name="complete"/> says whether they reach every
    /// id known to be given; when not, the rest must be read from the store.
    /// </summary>
    public List<EventInfo> Recent(long after, int max, out bool complete)
    {
        var known = Known;
        var found = new List<EventInfo>();
        lock (_recentLock)
        {
            for (var id = after + 1; id <= known && found.Count < max; id++)
            {
                if (_recent[id % Window] is not { } e || e.Id != id)
                    break;
                found.Add(e);
            }
        }
        complete = after + found.Count >= known;
        return found;
    }
}

/// <summary>
/// Gives committed events their public ids, in the order they became visible, and tells subscribers.
/// Every replica runs one; they take turns (a lock), and each numbers only what it sees committed,
/// continuing from the highest id given, so every id is given once, ids have no gaps, and an event
/// never gets an id below one a subscriber may already have read.
/// </summary>
public sealed class EventSequencer(TransactionRunner tx, EventSignals signals, IDbContextFactory<IfDbContext> factory,
    StoreOptions options, ILogger<EventSequencer> log)
{
    /// <summary>The PostgreSQL channel a sequencer notifies when it gave ids, so every replica's subscribers hear it.</summary>
    public const string Channel = "ifapi_events";

    // Both sides of the join say "pos IS NULL": then both read only the unnumbered rows through the
    // pos index; with the condition on one side only, the planner hashes against the whole table
    // (a scan of 150,000 rows, about five times the work, on every round).
    internal const string StampSql = """
        UPDATE events SET pos = todo.base + todo.rn
        FROM (SELECT e.id, row_number() OVER (ORDER BY e.id) AS rn,
                     (SELECT coalesce(max(x.pos), 0) FROM events AS x) AS base
              FROM events AS e WHERE e.pos IS NULL) AS todo
        WHERE events.id = todo.id AND events.pos IS NULL
        """;

    /// <summary>
    /// How far apart rounds start while this process has subscribers. A round is a transaction with a
    /// commit; one per change would cost the store as much as the changes. Ten milliseconds batches
    /// them and keeps an event's delay well inside what a subscriber notices. The same interval is
    /// the poll for events other replicas wrote.
    /// </summary>
    public static readonly TimeSpan ListenedInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>How far apart rounds start while nobody here listens: events still get ids soon, in bulk.</summary>
    public static readonly TimeSpan QuietInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>Runs until stopped: numbers events when kicked or polled, at the pace above.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var last = 0L;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var listened = signals.Subscribers > 0;
                await signals.WaitForWorkAsync(listened ? ListenedInterval : TimeSpan.FromSeconds(1), ct);
                var wait = (signals.Subscribers > 0 ? ListenedInterval : QuietInterval) - System.Diagnostics.Stopwatch.GetElapsedTime(last);
                if (wait > TimeSpan.Zero)
                    await signals.WaitForListenerAsync(wait, ct);
                last = System.Diagnostics.Stopwatch.GetTimestamp();
                var (stamped, newest) = await StampAsync(ct);
                signals.Publish(stamped);
                signals.Heard(newest);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IfError { Errno: Errno.EAGAIN } || TransactionRunner.IsUnreachable(e))
            {
                log.LogDebug(e, "event sequencer: store unreachable; trying again");
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
        }
    }

    /// <summary>
    /// One round: numbers every committed, unnumbered event and returns them, in order, with the
    /// highest id given so far by anyone. On PostgreSQL it is one round trip: the lock, the numbering
    /// (which also notifies the other replicas) and the highest id, run as one implicit transaction.
    /// </summary>
    public async Task<(IReadOnlyList<EventInfo> Stamped, long Newest)> StampAsync(CancellationToken ct)
    {
        if (options.Provider == StoreProvider.Postgres)
        {
            await using var conn = new NpgsqlConnection(_pgConnectionString);
            await conn.OpenAsync(ct);
            await using var batch = new NpgsqlBatch(conn)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand($"SELECT pg_advisory_xact_lock(hashtext('{Pools.Events}'))"),
                    new NpgsqlBatchCommand($"""
                        WITH s AS ({StampSql} RETURNING events.pos, events.at, events.type, events.interface_id, events.subject, events.data, events.actor, events.vnet)
                        SELECT s.*, (SELECT count(*) FROM (SELECT pg_notify('{Channel}', max(pos)::text) FROM s HAVING count(*) > 0) AS n)
                        FROM s ORDER BY s.pos
                        """),
                    new NpgsqlBatchCommand("SELECT coalesce(max(pos), 0) FROM events"),
                },
            };
            await using var reader = await batch.ExecuteReaderAsync(ct);
            await reader.NextResultAsync(ct);
            var stamped = await ReadEventsAsync(reader, ct);
            await reader.NextResultAsync(ct);
            await reader.ReadAsync(ct);
            return (stamped, reader.GetInt64(0));
        }
        return await tx.RunWriteAsync(async (db, ct) =>
        {
            await tx.LockAsync(db, Pools.Events, ct);
            var conn = db.Database.GetDbConnection();
            await using var stamp = conn.CreateCommand();
            stamp.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
            stamp.CommandText = $"{StampSql} RETURNING pos, at, type, interface_id, subject, data, actor, vnet";
            List<EventInfo> stamped;
            await using (var reader = await stamp.ExecuteReaderAsync(ct))
                stamped = await ReadEventsAsync(reader, ct);
            stamped.Sort((a, b) => a.Id.CompareTo(b.Id));
            var newest = await db.Events.MaxAsync(e => e.Pos, ct) ?? 0;
            return ((IReadOnlyList<EventInfo>)stamped, newest);
        }, ct);
    }

    private readonly string _pgConnectionString = options.Provider == StoreProvider.Postgres
        ? StoreSetup.PostgresConnectionString(options.ConnectionString) : "";

    private static async Task<List<EventInfo>> ReadEventsAsync(System.Data.Common.DbDataReader reader, CancellationToken ct)
    {
        var events = new List<EventInfo>();
        while (await reader.ReadAsync(ct))
            events.Add(new EventInfo(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<Guid>(3), reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetString(7)));
        return events;
    }

    /// <summary>Up to <paramref name="limit"/> numbered events after <paramref name="after"/>, in order.</summary>
    public async Task<IReadOnlyList<EventInfo>> ReadAsync(long after, int limit, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct);
        return await db.Events.AsNoTracking().Where(e => e.Pos > after).OrderBy(e => e.Pos).Take(limit)
            .Select(e => new EventInfo(e.Pos!.Value, e.At, e.Type, e.InterfaceId, e.Subject, e.Data, e.Actor, e.Vnet))
            .ToListAsync(ct);
    }

    /// <summary>The highest id given so far (0 when none).</summary>
    public async Task<long> LastAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct);
        return await db.Events.MaxAsync(e => e.Pos, ct) ?? 0;
    }

    /// <summary>
    /// Numbers everything committed so far, now, and returns the highest id given: where a new
    /// subscriber starts, so it hears exactly the changes committed after it subscribed.
    /// </summary>
    public async Task<long> CatchUpAsync(CancellationToken ct)
    {
        var (stamped, newest) = await StampAsync(ct);
        signals.Publish(stamped);
        signals.Heard(newest);
        return newest;
    }

    /// <summary>The lowest id still kept (0 when none).</summary>
    public async Task<long> OldestAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct);
        return await db.Events.MinAsync(e => e.Pos, ct) ?? 0;
    }

    /// <summary>How often each replica drops the events past keeping.</summary>
    public static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);

    private const int PruneBatch = 10_000;

    /// <summary>
    /// Drops the oldest numbered events that are older than the retention or beyond the number kept,
    /// oldest first and in batches (each its own transaction), so what is kept is always one unbroken
    /// run of ids ending at the newest. The newest is never dropped: numbering continues from it.
    /// Returns how many were dropped.
    /// </summary>
    public async Task<long> PruneAsync(DateTimeOffset now, CancellationToken ct)
    {
        var cutoff = now - DateTimeOffset.MinValue > options.EventRetention ? now - options.EventRetention : DateTimeOffset.MinValue;
        long dropped = 0;
        while (true)
        {
            var n = await tx.RunWriteAsync(async (db, ct) =>
            {
                var newest = await db.Events.MaxAsync(e => e.Pos, ct) ?? 0;
                var beyondCount = newest - options.EventsKept; // ids up to here exceed the number kept
                var first = await db.Events.AsNoTracking().Where(e => e.Pos < newest).OrderBy(e => e.Pos)
                    .Select(e => new { Pos = e.Pos!.Value, e.At }).FirstOrDefaultAsync(ct);
                if (first is null || first.Pos > beyondCount && first.At >= cutoff)
                    return 0; // nothing is due: the usual case, one index probe
                var oldest = await db.Events.AsNoTracking().Where(e => e.Pos < newest).OrderBy(e => e.Pos).Take(PruneBatch)
                    .Select(e => new { Pos = e.Pos!.Value, e.At }).ToListAsync(ct);
                var end = 0L;
                foreach (var e in oldest)
                {
                    if (e.Pos > beyondCount && e.At >= cutoff)
                        break;
                    end = e.Pos;
                }
                return end == 0 ? 0 : await db.Events.Where(e => e.Pos <= end).ExecuteDeleteAsync(ct);
            }, ct);
            dropped += n;
            if (n < PruneBatch)
                return dropped;
        }
    }

    /// <summary>Runs until stopped: drops what is past keeping at start-up and every <see cref="PruneInterval"/>.</summary>
    public async Task PruneLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var dropped = await PruneAsync(DateTimeOffset.UtcNow, ct);
                if (dropped > 0)
                    log.LogInformation("events: dropped {Count} past keeping (Events:Retention {Retention}, Events:Keep {Kept})",
                        dropped, options.EventRetention, options.EventsKept);
                await Task.Delay(PruneInterval, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IfError { Errno: Errno.EAGAIN } || TransactionRunner.IsUnreachable(e))
            {
                log.LogDebug(e, "event pruning: store unreachable; trying again later");
                await Task.Delay(PruneInterval, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Pruning must outlive a surprise: the table would grow without it.
                log.LogError(e, "event pruning failed; trying again later");
                await Task.Delay(PruneInterval, ct);
            }
        }
    }

    /// <summary>
    /// PostgreSQL: listens on <see cref="Channel"/>, so ids another replica gave reach this one's
    /// subscribers at once. (Each replica numbers what it wrote itself; any of them numbers the rest.)
    /// </summary>
    public async Task ListenAsync(CancellationToken ct)
    {
        if (options.Provider != StoreProvider.Postgres)
            return;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // Its own connection, never pooled: it keeps LISTEN on its session, which a pooled
                // connection handed to a transaction must not have.
                await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(
                    StoreSetup.PostgresConnectionString(options.ConnectionString)) { Pooling = false }.ConnectionString);
                conn.Notification += (_, n) =>
                {
                    if (long.TryParse(n.Payload, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var newest))
                        signals.Heard(newest);
                };
                await conn.OpenAsync(ct);
                await using (var cmd = new NpgsqlCommand($"LISTEN {Channel}", conn))
                    await cmd.ExecuteNonQueryAsync(ct);
                signals.Heard(await LastAsync(ct)); // whatever was numbered while nobody listened
                while (!ct.IsCancellationRequested)
                    await conn.WaitAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (TransactionRunner.IsUnreachable(e))
            {
                log.LogDebug(e, "event listener: store unreachable; listening again shortly");
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }
}
