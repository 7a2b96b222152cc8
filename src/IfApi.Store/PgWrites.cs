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
internal sealed class PgWrites(PendingChecks checks)
{
    private const string InsertInterface = """
        INSERT INTO interfaces (id, if_index, name, kind, cloner, unit, flags, mtu, metric, description, lladdr, created_at, version,
                                peer_id, parent_id, vlan_tag, bridge_id, vnet, home_vnet)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
        """;

    private const string InsertMembership = "INSERT INTO group_members (interface_id, group_name, vnet) VALUES ($1, $2, $3)";
    private const string InsertFreeUnit = "INSERT INTO free_units (pool, unit) VALUES ($1, $2)";
    private const string InsertEvent = "INSERT INTO events (type, interface_id, subject, data, actor, vnet) VALUES ($1, $2, $3, $4, $5, $6)";
    // A delete over the version read must find its row: another transaction changed it meanwhile
    // otherwise. Dividing by the count of rows deleted makes the server refuse the transaction then,
    // before a COMMIT that may follow in the same batch.
    private const string DeleteInterface = """
        WITH gone AS (DELETE FROM interfaces WHERE id = $1 AND version = $2 RETURNING 1)
        SELECT 1 / (SELECT count(*)::int FROM gone)
        """;

    // Each write made into its statements when sent: a row added is written as it is then, as EF
    // would (an epair's ends learn their peers after both were added).
    private readonly List<Action<NpgsqlBatchCommandCollection>> _queued = [];
    // Whether a delete that must find its row is queued (see DeleteInterface).
    private bool _deletes;

    /// <summary>Whether anything is queued to send.</summary>
    public bool HasQueued => _queued.Count > 0;

    public void Add(InterfaceRow i) => _queued.Add(into =>
    {
        into.Add(Command(InsertInterface, i.Id, i.Index, i.Name, i.Kind, i.Cloner, i.Unit, i.Flags, i.Mtu, i.Metric, i.Description, i.Lladdr,
            i.CreatedAt, i.Version, i.PeerId, i.ParentId, i.VlanTag, i.BridgeId, i.Vnet, i.HomeVnet));
        foreach (var g in i.Groups)
            into.Add(Command(InsertMembership, i.Id, g.Group, i.Vnet));
    });

    public void Join(Guid id, string group, string vnet) => Queue(Command(InsertMembership, id, group, vnet));

    public void FreeUnit(string pool, int unit) => Queue(Command(InsertFreeUnit, pool, unit));

    public void Announce(Announcement a, string? actor, string vnet) =>
        Queue(Command(InsertEvent, a.Type, a.InterfaceId, a.Subject, JsonSerializer.Serialize(a, a.GetType(), Outbox.Json), actor, vnet));

    public void Delete(Guid id, long version)
    {
        _deletes = true;
        Queue(Command(DeleteInterface, id, version));
    }

    private void Queue(NpgsqlBatchCommand command) => _queued.Add(into => into.Add(command));

    private static NpgsqlBatchCommand Command(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var v in values)
            command.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value });
        return command;
    }

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
        foreach (var write in _queued)
            write(batch.BatchCommands);
        _queued.Clear();
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
            if (e.SqlState == PostgresErrorCodes.DivisionByZero && _deletes)
                throw new RaceLostException("an interface to delete was changed or deleted by another transaction meanwhile");
            throw;
        }
        catch (Exception e) when (commitCommand is not null && e is not OperationCanceledException)
        {
            throw new CommitFailedException(e);
        }
        finally
        {
            _deletes = false;
        }
    }
}
