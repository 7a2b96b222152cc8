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
internal sealed class PgWrites
{
    private const string InsertInterface = """
        INSERT INTO interfaces (id, if_index, name, kind, cloner, unit, flags, mtu, metric, description, lladdr, created_at, version,
                                peer_id, parent_id, vlan_tag, bridge_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        """;

    private const string InsertMembership = "INSERT INTO group_members (interface_id, group_name) VALUES ($1, $2)";
    private const string InsertFreeUnit = "INSERT INTO free_units (pool, unit) VALUES ($1, $2)";
    private const string InsertEvent = "INSERT INTO events (type, interface_id, subject, data, actor) VALUES ($1, $2, $3, $4, $5)";
    private const string DeleteInterface = "DELETE FROM interfaces WHERE id = $1 AND version = $2";

    // Each write made into its statements when sent: a row added is written as it is then, as EF
    // would (an epair's ends learn their peers after both were added).
    private readonly List<Action<List<NpgsqlBatchCommand>>> _queued = [];
    // Deletes whose one row must have been there: another transaction changed it meanwhile otherwise.
    private readonly List<NpgsqlBatchCommand> _mustDelete = [];

    public void Add(InterfaceRow i) => _queued.Add(into =>
    {
        into.Add(Command(InsertInterface, i.Id, i.Index, i.Name, i.Kind, i.Cloner, i.Unit, i.Flags, i.Mtu, i.Metric, i.Description, i.Lladdr,
            i.CreatedAt, i.Version, i.PeerId, i.ParentId, i.VlanTag, i.BridgeId));
        foreach (var g in i.Groups)
            into.Add(Command(InsertMembership, i.Id, g.Group));
    });

    public void Join(Guid id, string group) => Queue(Command(InsertMembership, id, group));

    public void FreeUnit(string pool, int unit) => Queue(Command(InsertFreeUnit, pool, unit));

    public void Announce(Announcement a, string? actor) =>
        Queue(Command(InsertEvent, a.Type, a.InterfaceId, a.Subject, JsonSerializer.Serialize(a, a.GetType(), Outbox.Json), actor));

    public void Delete(Guid id, long version)
    {
        var command = Command(DeleteInterface, id, version);
        _mustDelete.Add(command);
        Queue(command);
    }

    private void Queue(NpgsqlBatchCommand command) => _queued.Add(into => into.Add(command));

    private static NpgsqlBatchCommand Command(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var v in values)
            command.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value });
        return command;
    }

    /// <summary>Sends what is queued in one round trip, in the order it was queued.</summary>
    public async Task SendAsync(IfDbContext db, CancellationToken ct)
    {
        if (_queued.Count == 0)
            return;
        await using var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection())
        {
            Transaction = (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction(),
        };
        var commands = new List<NpgsqlBatchCommand>(_queued.Count + 2);
        foreach (var write in _queued)
            write(commands);
        foreach (var c in commands)
            batch.BatchCommands.Add(c);
        _queued.Clear();
        await batch.ExecuteNonQueryAsync(ct);
        foreach (var d in _mustDelete)
        {
            if (d.RecordsAffected != 1)
                throw new RaceLostException("an interface to delete was changed or deleted by another transaction meanwhile");
        }
        _mustDelete.Clear();
    }
}
