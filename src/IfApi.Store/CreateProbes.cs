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
    private const string ProbeSql = "SELECT c.seq, EXISTS (SELECT FROM interfaces AS i WHERE i.name = ANY($2)) FROM cloners AS c WHERE c.name = $1";

    public static async Task<(long? Seq, bool Held, int? Index)> ProbeAsync(IfDbContext db, string cloner, string[] names, bool claimIndex,
        PendingChecks checks, CancellationToken ct)
    {
        if (!db.Database.IsNpgsql())
        {
            var probe = await db.Cloners.AsNoTracking().Where(c => c.Name == cloner)
                .Select(c => new { c.Seq, Held = db.Interfaces.Any(i => names.Contains(i.Name)) })
                .FirstOrDefaultAsync(ct);
            return (probe?.Seq, probe?.Held ?? false, null);
        }
        await using var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection())
        {
            Transaction = (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction(),
            BatchCommands = { new NpgsqlBatchCommand(ProbeSql) { Parameters = { new() { Value = cloner }, new() { Value = names } } } },
        };
        if (claimIndex)
            batch.BatchCommands.Add(new NpgsqlBatchCommand(StoredUnitPool.PgClaimLowest) { Parameters = { new() { Value = Pools.Ifindex }, new() { Value = 1 } } });
        checks.AddTo(batch);
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await checks.ReadAsync(reader, more: true, ct);
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
