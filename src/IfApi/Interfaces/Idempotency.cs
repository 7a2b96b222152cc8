using IfApi.Application;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using IfApi.Domain;

namespace IfApi.Interfaces;

/// <summary>The <c>Idempotency-Key</c> header of a create, with a digest of the request it came with.</summary>
public static class Idempotency
{
    public const string Header = "Idempotency-Key";

    /// <summary>On an answer that is a replay of the first one.</summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    public static IdempotencyKey? Key<TBody>(HttpRequest request, TBody body, string? ioctl = Ioctl.IfCreate)
    {
        var values = request.Headers[Header];
        if (values.Count == 0)
            return null;
        var key = values.ToString();
        if (values.Count > 1 || key.Length is 0 or > IdempotencyKey.MaxLength || key.Any(c => c is < '!' or > '~'))
            throw new IfError(Errno.EINVAL, $"{Header} is one value of 1 to {IdempotencyKey.MaxLength} printable ASCII characters", ioctl);
        // The request as parsed, so a retry that differs only in spacing or member order is the same request.
        var digest = SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(body));
        return new IdempotencyKey(key, Convert.ToHexStringLower(digest));
    }
}
