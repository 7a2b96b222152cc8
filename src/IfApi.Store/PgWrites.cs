using System.Globalization;
using System.Text.Json;
using IfApi.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// The writes of a create or destroy on PostgreSQL, queued and sent as one batch of prepared
/// statements: rows added (interfaces with their memberships, freed units, events) and interfaces
/// deleted over the version read. It does what EF's change tracker would do for these rows, without
/// the tracker: every create and destroy pays for it, and it was most of the service's CPU per
/// request. Other changes (updates of rows read to change, cloners, leases) stay with EF; a session
/// sends these first, then EF's, so rows keep their order of dependence (an interface before its
/// memberships; a bridge's update after its member's delete was sent by an earlier save).
/// </summary>
internal sealed partial class PgWrites(PendingChecks checks)
{
    // Each write is one data-modifying statement with its parameters numbered from $1; what is queued
    // goes to the server as one statement that holds them all (see Compose).
    private const string InsertInterface = """
        INSERT INTO interfaces (id, if_index, name, kind, cloner, unit, flags, mtu, metric, description, lladdr, created_at, version,
                                peer_id, parent_id, vlan_tag, bridge_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        """;

    private const string InsertMemberships = "INSERT INTO group_members (interface_id, group_name) SELECT $1, unnest($2::text[])";
    private const string InsertFreeUnit = "INSERT INTO free_units (pool, unit) VALUES ($1, $2)";
    private const string InsertEvent = "INSERT INTO events (type, interface_id, subject, data, actor) VALUES ($1, $2, $3, $4, $5)";
    private const string InsertEvents = """
        INSERT INTO events (type, interface_id, subject, data, actor)
        SELECT * FROM unnest($1::varchar[], $2::uuid[], $3::varchar[], $4::text[], $5::varchar[])
        """;
    // A delete over the version read must find its row: another transaction changed it meanwhile
    // otherwise (see Compose for how that refuses the transaction).
    private const string DeleteInterface = "DELETE FROM interfaces WHERE id = $1 AND version = $2 RETURNING 1";

    private readonly record struct Write(string Sql, object?[] Values);

    // Each write made into its statements when sent: a row added is written as it is then, as EF
    // would (an epair's ends learn their peers after both were added).
    private readonly List<Action<List<Write>>> _queued = [];

    /// <summary>Whether anything is queued to send.</summary>
    public bool HasQueued => _queued.Count > 0;

    public void Add(InterfaceRow i) => _queued.Add(into =>
    {
        into.Add(new(InsertInterface, [i.Id, i.Index, i.Name, i.Kind, i.Cloner, i.Unit, i.Flags, i.Mtu, i.Metric, i.Description, i.Lladdr,
            i.CreatedAt, i.Version, i.PeerId, i.ParentId, i.VlanTag, i.BridgeId]));
        if (i.Groups.Count > 0)
            into.Add(new(InsertMemberships, [i.Id, i.Groups.Select(g => g.Group).ToArray()]));
    });

    public void Join(Guid id, string group) => Queue(new(InsertMemberships, [id, new[] { group }]));

    public void FreeUnit(string pool, int unit) => Queue(new(InsertFreeUnit, [pool, unit]));

    public void Announce(Announcement a, string? actor) =>
        Queue(new(InsertEvent, [a.Type, a.InterfaceId, a.Subject, JsonSerializer.Serialize(a, a.GetType(), Outbox.Json), actor]));

    public void Delete(Guid id, long version) => Queue(new(DeleteInterface, [id, version]));

    private void Queue(Write write) => _queued.Add(into => into.Add(write));

    /// <summary>
    /// The writes in as few statements as keep their order where it matters: the rows of one
    /// statement are written in no set order, so a delete of interfaces and an insert of interfaces or
    /// memberships (a name freed and taken again, as in a destroy and create in one transaction) go
    /// in statements one after the other. Inserts of events and free units depend on nothing else.
    /// </summary>
    private static IEnumerable<List<Write>> Statements(List<Write> writes)
    {
        var statement = new List<Write>();
        var events = new List<Write>();
        bool deletes = false, inserts = false;
        foreach (var w in writes)
        {
            var delete = ReferenceEquals(w.Sql, DeleteInterface);
            var insert = ReferenceEquals(w.Sql, InsertInterface) || ReferenceEquals(w.Sql, InsertMemberships);
            if (delete && inserts || insert && deletes)
            {
                yield return WithEvents(statement, events);
                (statement, events, deletes, inserts) = ([], [], false, false);
            }
            (ReferenceEquals(w.Sql, InsertEvent) ? events : statement).Add(w);
            deletes |= delete;
            inserts |= insert;
        }
        yield return WithEvents(statement, events);
    }

    // A statement's events as one insert of their rows in the order announced: their ids, which
    // order the stream, are taken row after row as the rows come, and the queries of one statement
    // run in no set order.
    private static List<Write> WithEvents(List<Write> statement, List<Write> events)
    {
        if (events.Count == 1)
            statement.Add(events[0]);
        else if (events.Count > 1)
            statement.Add(new(InsertEvents, [.. Enumerable.Range(0, 5).Select(c => Column(events, c))]));
        return statement;
    }

    private static Array Column(List<Write> events, int c) => c switch
    {
        1 => events.Select(e => e.Values[c] as Guid?).ToArray(),
        _ => events.Select(e => e.Values[c] as string).ToArray(),
    };

    /// <summary>
    /// The writes as one statement: each a data-modifying <c>WITH</c> query, which the server runs
    /// exactly once and to the end whether or not anything reads it, all with one snapshot (so no
    /// write may depend on seeing another's row; foreign keys are checked at the end of the statement,
    /// when every row is there). One statement instead of one per row: the server's cost per
    /// statement (bind, executor start and end, a snapshot) was the larger part of what a create and
    /// a destroy cost it beyond the rows themselves. The main query divides by the number of rows each
    /// delete found, so that a delete whose row changed meanwhile fails the statement, and the
    /// transaction, before a COMMIT that may follow it.
    /// </summary>
    private static NpgsqlBatchCommand Compose(List<Write> writes)
    {
        var key = string.Join('\n', writes.Select(w => w.Sql));
        var sql = Composed.TryGetValue(key, out var known) ? known : Remember(key, ComposeSql(writes));
        var command = new NpgsqlBatchCommand(sql);
        foreach (var w in writes)
            foreach (var v in w.Values)
                command.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value });
        return command;
    }

    private static string ComposeSql(List<Write> writes)
    {
        var sql = new System.Text.StringBuilder("WITH ");
        var deletes = new List<string>();
        var offset = 0;
        for (var i = 0; i < writes.Count; i++)
        {
            var name = "w" + i.ToString(CultureInfo.InvariantCulture);
            var shift = offset;
            sql.Append(i == 0 ? "" : ",\n").Append(name).Append(" AS (")
                .Append(Parameter().Replace(writes[i].Sql, m => "$" + (int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture) + shift).ToString(CultureInfo.InvariantCulture)))
                .Append(')');
            if (ReferenceEquals(writes[i].Sql, DeleteInterface))
                deletes.Add($"(SELECT count(*)::int FROM {name})");
            offset += writes[i].Values.Length;
        }
        sql.Append("\nSELECT ").Append(deletes.Count == 0 ? "1" : "1 / (" + string.Join(" * ", deletes) + ")");
        return sql.ToString();
    }

    // The statements of the shapes seen (a create of a tap, its destroy, …), built once each. A shape
    // is a sequence of the few statements above, so there are few; past the bound, one is built each time.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Composed = new();
    private const int ComposedBound = 256;

    private static string Remember(string key, string sql)
    {
        if (Composed.Count < ComposedBound)
            Composed.TryAdd(key, sql);
        return sql;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\$(\d+)")]
    private static partial System.Text.RegularExpressions.Regex Parameter();

    /// <summary>
    /// Sends what is queued in one round trip, in the order it was queued; with <paramref name="commit"/>,
    /// the transaction's COMMIT after it. An error the server answers fails the transaction as any
    /// statement's does (a statement that fails before the COMMIT makes the server skip the rest of the
    /// batch, the COMMIT too; a COMMIT that fails rolls back); a batch that gets no answer, or loses its
    /// connection, leaves the outcome unknown (<see cref="CommitFailedException"/>).
    /// </summary>
    public async Task SendAsync(IfDbContext db, CancellationToken ct, bool commit = false)
    {
        if (_queued.Count == 0 && !commit)
            return;
        // Reads the transaction deferred go first (their rows decide whether it goes on), never with a
        // COMMIT (the session does not ask for one then: the server would commit whatever they said).
        // The writes' answers are read to the end, where an error of any statement surfaces.
        if (commit && checks.Any)
            throw new InvalidOperationException("deferred reads cannot go in a batch that commits");
        await using var batch = StoreDialect.PgBatch(db);
        var deletes = false;
        if (_queued.Count > 0)
        {
            var writes = new List<Write>();
            foreach (var write in _queued)
                write(writes);
            _queued.Clear();
            deletes = writes.Exists(w => ReferenceEquals(w.Sql, DeleteInterface));
            foreach (var statement in Statements(writes))
                batch.BatchCommands.Add(Compose(statement));
        }
        var commitCommand = commit ? new NpgsqlBatchCommand("COMMIT") : null;
        if (commitCommand is not null)
            batch.BatchCommands.Add(commitCommand);
        try
        {
            await using var reader = await checks.ExecuteAsync(batch, ct);
            while (await reader.NextResultAsync(ct))
            {
            }
        }
        catch (PostgresException e) when (!TransactionRunner.LostConnection(e))
        {
            // The server answered with an error, whether for a statement before the COMMIT (which it
            // then skipped) or for the COMMIT itself: either way nothing was committed.
            if (e.SqlState == PostgresErrorCodes.DivisionByZero && deletes)
                throw new RaceLostException("an interface to delete was changed or deleted by another transaction meanwhile");
            throw;
        }
        catch (Exception e) when (commitCommand is not null && e is not OperationCanceledException)
        {
            throw new CommitFailedException(e);
        }
    }
}
