using IfApi.Store;

namespace IfApi.Application;

/// <summary>
/// Several operations as one transaction (<c>POST /v1/transactions</c>), and any operation as a dry
/// run: each use case called inside <see cref="RunAsync{T}"/> joins its transaction, sees what the
/// ones before it changed, and is committed with them, or rolled back with them.
/// </summary>
public sealed class BatchService(TransactionRunner tx)
{
    /// <summary>Whether the code running now is inside a dry run.</summary>
    public static bool InDryRun => TransactionRunner.InDryRun;

    /// <summary>Runs <paramref name="body"/> as one transaction; with <paramref name="dryRun"/>, rolled back at the end.</summary>
    public Task<T> RunAsync<T>(string? actor, bool dryRun, Func<CancellationToken, Task<T>> body, CancellationToken ct) =>
        tx.BatchAsync(actor, dryRun, body, ct);

    /// <summary>The answer kept under <paramref name="key"/> (within the batch), or null.</summary>
    public Task<string?> RecallAsync(IdempotencyKey key, string? ioctl, CancellationToken ct) =>
        tx.ReadAsync((s, ct) => Remembered.RecallAsync(s, key, ioctl, ct), ct);

    /// <summary>Keeps <paramref name="answer"/> under <paramref name="key"/>, with the batch.</summary>
    public Task KeepAsync(IdempotencyKey key, string answer, CancellationToken ct) =>
        tx.WriteAsync(null, async (s, ct) =>
        {
            await Remembered.KeepAsync(s, key, answer, ct);
            return true;
        }, ct);
}
