using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace IfApi.Store;

/// <summary>
/// What a create checks once it has claimed a unit: whether another (renamed) interface holds one of
/// the unit's names, and whether the cloner is still the one matched (its seq; null when it is gone).
/// On PostgreSQL the lowest free index can be claimed in the same round trip.
/// </summary>
internal static class CreateProbes
{
    // One equality on the unique name index per name (a unit has one or two): with "name = ANY($2)"
    // the server's generic plan may scan the whole table instead, which is small in live rows but,
    // while creates and destroys churn, large in dead ones.
    private static readonly string[] ProbeSql = [.. Enumerable.Range(0, 5).Select(ProbeSqlFor)];

    private static string ProbeSqlFor(int names) =>
        "SELECT c.seq, " + (names == 0 ? "false" : string.Join(" OR ", Enumerable.Range(3, names).Select(p => $"EXISTS (SELECT FROM interfaces AS i WHERE i.vnet = $1 AND i.name = ${p})")))
        + " FROM cloners AS c WHERE c.vnet = $1 AND c.name = $2";

    public static async Task<(long? Seq, bool Held, int? Index)> ProbeAsync(IfDbContext db, string vnet, string cloner, string[] names, bool claimIndex,
        PendingChecks checks, CancellationToken ct)
    {
        if (!db.IsPostgres)
        {
            var found = await db.Cloners.AsNoTracking().Where(c => c.Name == cloner)
                .Select(c => new { c.Seq, Held = db.Interfaces.Any(i => names.Contains(i.Name)) })
                .FirstOrDefaultAsync(ct);
            return (found?.Seq, found?.Held ?? false, null);
        }
        await using var batch = StoreDialect.PgBatch(db);
        var probe = new NpgsqlBatchCommand(names.Length < ProbeSql.Length ? ProbeSql[names.Length] : ProbeSqlFor(names.Length))
        {
            Parameters = { new() { Value = vnet }, new() { Value = cloner } },
        };
        foreach (var name in names)
            probe.Parameters.Add(new() { Value = name });
        batch.BatchCommands.Add(probe);
        if (claimIndex)
            batch.BatchCommands.Add(new NpgsqlBatchCommand(StoredUnitPool.PgClaimLowest) { Parameters = { new() { Value = Pools.In(vnet, Pools.Ifindex) }, new() { Value = 1 } } });
        await using var reader = await checks.ExecuteAsync(batch, ct);
        long? seq = null;
        var held = false;
        if (await reader.ReadAsync(ct))
            (seq, held) = (reader.GetInt64(0), reader.GetBoolean(1));
        int? index = null;
        if (claimIndex && await reader.NextResultAsync(ct) && await reader.ReadAsync(ct))
            index = reader.GetInt32(0);
        return (seq, held, index);
    }
}
