using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>Answers kept under an <c>Idempotency-Key</c>, with a digest of the request they answered.</summary>
internal static class Remembered
{
    /// <summary>The answer kept under <paramref name="key"/>, or null; the key with another request is refused (EEXIST).</summary>
    public static async Task<string?> RecallAsync(StoreSession s, IdempotencyKey key, string? ioctl, CancellationToken ct)
    {
        var kept = await s.FindRememberedAsync(key.Key, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ct);
        if (kept is null)
            return null;
        if (kept.RequestHash != key.RequestHash)
            throw new IfError(Errno.EEXIST, "this Idempotency-Key was used with another request", ioctl);
        return kept.Result;
    }

    /// <summary>
    /// Keeps the answer with the change it answers. Two requests with one key at once both get here;
    /// the key's primary key makes the second one's transaction run again, and then it replays the first.
    /// </summary>
    public static Task KeepAsync(StoreSession s, IdempotencyKey key, string answer, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        return s.RememberAsync(new IdempotencyRow
        {
            Key = key.Key,
            RequestHash = key.RequestHash,
            Result = answer,
            ExpiresAt = (now + IdempotencyKey.Lifetime).ToUnixTimeMilliseconds(),
        }, now.ToUnixTimeMilliseconds(), ct);
    }
}
