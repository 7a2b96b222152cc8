using Npgsql;

namespace IfApi.Store;

/// <summary>
/// The cloners as last read on PostgreSQL, so a create need not read them before it claims: cloners
/// change only when attached or detached, here or on another replica. A transaction that uses the
/// cached list checks in its next round trip that the store's cloners are still those (their count
/// and highest seq: an attach raises the one, a detach lowers the other), and runs again with a fresh
/// list when they are not.
/// </summary>
public sealed class ClonerCache
{
    // Per vnet: each has its own cloners (V_if_cloners).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Snapshot> _current = new(StringComparer.Ordinal);

    internal sealed record Snapshot(List<ClonerRow> Rows, long MaxSeq);

    internal Snapshot? Current(string vnet) => _current.TryGetValue(vnet, out var s) ? s : null;

    internal void Keep(string vnet, List<ClonerRow> rows) =>
        _current[vnet] = new Snapshot(rows, rows.Count == 0 ? 0 : rows.Max(r => r.Seq));

    internal void Forget(string vnet, Snapshot stale) => _current.TryRemove(new KeyValuePair<string, Snapshot>(vnet, stale));

    /// <summary>Forgets a vnet that is gone.</summary>
    internal void Forget(string vnet) => _current.TryRemove(vnet, out _);

    internal const string VersionSql = "SELECT count(*), coalesce(max(seq), 0) FROM cloners WHERE vnet = $1";
}

/// <summary>The cloners a create matches its name against, with what is known of that name.</summary>
public sealed class ClonerList
{
    internal ClonerList(List<ClonerRow> rows, string name, bool? taken)
    {
        (Rows, Name, Taken) = (rows, name, taken);
    }

    /// <summary>Newest first.</summary>
    public IReadOnlyList<ClonerRow> Rows { get; }

    /// <summary>From the cache, checked in the transaction's next round trip: a name no cloner matches may match a fresher list.</summary>
    public bool Cached => Taken is null;

    internal string Name { get; }

    /// <summary>Whether an interface has the name, when it was read with the list.</summary>
    internal bool? Taken { get; }
}

/// <summary>
/// Reads a transaction on PostgreSQL defers to its next round trip: each is a statement sent at the
/// head of the next batch, and its row decides whether the transaction goes on. The first that fails
/// ends the transaction with its error.
/// </summary>
internal sealed class PendingChecks
{
    private readonly List<(NpgsqlBatchCommand Command, Func<NpgsqlDataReader, Exception?> Verdict)> _checks = [];

    public bool Any => _checks.Count > 0;

    public void Add(NpgsqlBatchCommand command, Func<NpgsqlDataReader, Exception?> verdict) => _checks.Add((command, verdict));

    /// <summary>
    /// Runs <paramref name="batch"/> with the checks at its head, reads their rows and throws the first
    /// failure; otherwise returns the reader at the first result of the batch's own statements.
    /// </summary>
    public async Task<NpgsqlDataReader> ExecuteAsync(NpgsqlBatch batch, CancellationToken ct)
    {
        var checks = _checks.ToList();
        _checks.Clear();
        for (var i = 0; i < checks.Count; i++)
            batch.BatchCommands.Insert(i, checks[i].Command);
        var reader = await batch.ExecuteReaderAsync(ct);
        try
        {
            Exception? failed = null;
            for (var i = 0; i < checks.Count; i++)
            {
                if (i > 0)
                    await reader.NextResultAsync(ct);
                if (!await reader.ReadAsync(ct))
                    throw new InvalidOperationException($"a check returned no row: {checks[i].Command.CommandText}");
                failed ??= checks[i].Verdict(reader);
            }
            if (failed is not null)
                throw failed;
            if (checks.Count > 0 && batch.BatchCommands.Count > checks.Count)
                await reader.NextResultAsync(ct);
            return reader;
        }
        catch
        {
            await reader.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends the checks on their own (nothing else was sent after them).</summary>
    public async Task FlushAsync(IfDbContext db, CancellationToken ct)
    {
        if (_checks.Count == 0)
            return;
        await using var batch = StoreDialect.PgBatch(db);
        await using var reader = await ExecuteAsync(batch, ct);
    }
}
