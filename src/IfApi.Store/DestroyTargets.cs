using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// Reads a destroy's target. On PostgreSQL one round trip: the interface's row is locked, then its
/// peer's, then their memberships are read, each statement seeing what committed before it, so
/// the memberships are exactly those that the destroy ends (a group call waits for the row lock).
/// SQLite's one writer holds everything already.
/// </summary>
internal static class DestroyTargets
{
    /// <summary>The target is found in <paramref name="vnet"/>; its epair peer wherever it is.</summary>
    public static async Task<DestroyTarget?> ReadLockedAsync(IfDbContext db, string vnet, string reference, CancellationToken ct)
    {
        var byId = Guid.TryParse(reference, out var id);
        return db.IsPostgres
            ? await ReadPostgresAsync(db, vnet, byId ? id : reference, byId ? "i.vnet = $2 AND i.id = $1" : "i.vnet = $2 AND i.name = $1", ct)
            : await ReadAsync(db, vnet, reference, ct);
    }

    private static async Task<DestroyTarget?> ReadPostgresAsync(IfDbContext db, string vnet, object reference, string where, CancellationToken ct)
    {
        NpgsqlBatchCommand Command(string sql) => new(sql) { Parameters = { new NpgsqlParameter { Value = reference }, new NpgsqlParameter { Value = vnet } } };
        await using var batch = StoreDialect.PgBatch(db,
                Command($"""
                    SELECT i.id, i.name, i.if_index, i.version, i.bridge_id, i.vnet, i.cloner, i.unit, c.min_ifs, coalesce(c.no_group, false), i.home_vnet
                    FROM interfaces AS i LEFT JOIN cloners AS c ON c.vnet = i.home_vnet AND c.name = i.cloner
                    WHERE {where} FOR NO KEY UPDATE OF i
                    """),
                // The peer by its id, the key: the two ends name each other, and peer_id has no
                // index of its own, so asking for the row that names this one scans the table.
                Command($"""
                    SELECT p.id, p.name, p.if_index, p.version, p.bridge_id, p.vnet FROM interfaces AS p
                    WHERE p.id = (SELECT i.peer_id FROM interfaces AS i WHERE {where}) FOR NO KEY UPDATE OF p
                    """),
                Command($"""
                    SELECT g.interface_id, g.group_name FROM group_members AS g
                    WHERE g.interface_id IN (SELECT i.id FROM interfaces AS i WHERE {where} UNION ALL
                                             SELECT i.peer_id FROM interfaces AS i WHERE {where})
                    """));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
            return null;
        var end = new DestroyedEnd(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt64(3),
            reader.IsDBNull(4) ? null : reader.GetGuid(4), reader.GetString(5));
        var cloner = reader.IsDBNull(6) ? null : reader.GetString(6);
        int? unit = reader.IsDBNull(7) ? null : reader.GetInt32(7);
        int? minIfs = reader.IsDBNull(8) ? null : reader.GetInt32(8);
        var noGroup = reader.GetBoolean(9);
        var home = reader.GetString(10);
        await reader.NextResultAsync(ct);
        DestroyedEnd? peer = await reader.ReadAsync(ct)
            ? new DestroyedEnd(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetGuid(4),
                reader.GetString(5))
            : null;
        await reader.NextResultAsync(ct);
        var memberships = new List<Membership>();
        while (await reader.ReadAsync(ct))
            memberships.Add(new Membership(reader.GetGuid(0), reader.GetString(1)));
        return new DestroyTarget(end, peer, cloner, unit, minIfs, noGroup, memberships, home);
    }

    private static async Task<DestroyTarget?> ReadAsync(IfDbContext db, string vnet, string reference, CancellationToken ct)
    {
        // The vnet said outright: the peer is read across vnets, and a query that ignores filters anywhere ignores them everywhere.
        var inVnet = db.Interfaces.IgnoreQueryFilters().Where(i => i.Vnet == vnet);
        var q = Guid.TryParse(reference, out var id) ? inVnet.Where(i => i.Id == id) : inVnet.Where(i => i.Name == reference);
        // The peer as a left join on its key. As a subquery (Where(...).Select(new ...).FirstOrDefault())
        // it becomes a join against a ROW_NUMBER() over every interface: the whole table read and
        // sorted for each destroy.
        var found = await (
                from i in q.AsNoTracking()
                join other in db.Interfaces.AsNoTracking().IgnoreQueryFilters() on i.PeerId equals (Guid?)other.Id into peers
                from peer in peers.DefaultIfEmpty()
                select new
                {
                    End = new DestroyedEnd(i.Id, i.Name, i.Index, i.Version, i.BridgeId, i.Vnet),
                    Peer = peer == null ? null : new DestroyedEnd(peer.Id, peer.Name, peer.Index, peer.Version, peer.BridgeId, peer.Vnet),
                    i.Cloner,
                    i.Unit,
                    i.HomeVnet,
                    MinIfs = db.Cloners.IgnoreQueryFilters().Where(c => c.Vnet == i.HomeVnet && c.Name == i.Cloner).Select(c => (int?)c.MinIfs).FirstOrDefault(),
                    NoGroup = db.Cloners.IgnoreQueryFilters().Where(c => c.Vnet == i.HomeVnet && c.Name == i.Cloner).Select(c => c.NoGroup).FirstOrDefault(),
                })
            .FirstOrDefaultAsync(ct);
        if (found is null)
            return null;
        Guid[] ids = found.Peer is { } p ? [found.End.Id, p.Id] : [found.End.Id];
        var memberships = await db.GroupMembers.AsNoTracking().IgnoreQueryFilters().Where(g => ids.Contains(g.InterfaceId))
            .Select(g => new Membership(g.InterfaceId, g.Group)).ToListAsync(ct);
        return new DestroyTarget(found.End, found.Peer, found.Cloner, found.Unit, found.MinIfs, found.NoGroup, memberships, found.HomeVnet);
    }
}
