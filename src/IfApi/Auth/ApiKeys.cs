using System.Security.Cryptography;
using System.Text;

namespace IfApi.Auth;

/// <summary>What a key may do, as <c>priv_check</c>'s privileges say what a process may do.</summary>
[Flags]
public enum Scopes
{
    None = 0,
    /// <summary>Every read: interfaces, cloners, groups, events.</summary>
    Read = 1,
    /// <summary>Creating, destroying and changing interfaces and groups, bridge members, transmitting frames.</summary>
    Write = 2,
    /// <summary>Attaching and detaching cloners.</summary>
    Admin = 4,
    /// <summary>Opening a tap's character device (and the cloning device).</summary>
    Tap = 8,
    All = Read | Write | Admin | Tap,
}

/// <summary>One configured key: its name (what logs and events record) and its scopes. The secret is kept only as a hash.</summary>
public sealed class ApiKey(string name, Scopes scopes, byte[] hash)
{
    public string Name { get; } = name;
    public Scopes Scopes { get; } = scopes;
    internal byte[] Hash { get; } = hash;

    public override string ToString() => $"{Name} ({ScopeNames.Format(Scopes)})";
}

public static class ScopeNames
{
    public const string Read = "read", Write = "write", Admin = "admin", Tap = "tap";

    public static string Of(Scopes scope) => scope switch
    {
        Scopes.Read => Read,
        Scopes.Write => Write,
        Scopes.Admin => Admin,
        Scopes.Tap => Tap,
        _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, "not a single scope"),
    };

    public static string Format(Scopes scopes) =>
        string.Join(' ', new[] { Scopes.Read, Scopes.Write, Scopes.Admin, Scopes.Tap }.Where(s => scopes.HasFlag(s)).Select(Of));

    /// <summary>Parses <c>Auth:Keys:&lt;name&gt;:Scopes</c>: names separated by spaces (or commas).</summary>
    public static Scopes Parse(string? text, string key)
    {
        var scopes = Scopes.None;
        foreach (var word in (text ?? "").Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            scopes |= word.ToLowerInvariant() switch
            {
                Read => Scopes.Read,
                Write => Scopes.Write,
                Admin => Scopes.Admin,
                Tap => Scopes.Tap,
                _ => throw new InvalidOperationException($"Auth:Keys:{key}:Scopes: '{word}' is not one of read, write, admin, tap"),
            };
        }
        return scopes;
    }
}

/// <summary>
/// The configured keys (<c>Auth:Keys</c>). Empty means the service is open, and then it listens on
/// loopback only. A presented secret is hashed and compared with every key's hash in constant time,
/// so neither how much of a secret matched nor which key it was shows in the time an answer takes.
/// </summary>
public sealed partial class ApiKeyRing
{
    /// <summary>Shorter secrets are refused at start-up: they can be guessed.</summary>
    public const int MinSecretLength = 16;

    private readonly ApiKey[] _keys;

    public ApiKeyRing(IEnumerable<ApiKey> keys) => _keys = keys.ToArray();

    public IReadOnlyList<ApiKey> Keys => _keys;

    /// <summary>No keys: every caller may do everything, and only from this host.</summary>
    public bool Open => _keys.Length == 0;

    public static ApiKeyRing FromConfiguration(IConfigurationSection section)
    {
        var keys = new List<ApiKey>();
        foreach (var entry in section.GetChildren())
        {
            var name = entry.Key;
            if (!IsKeyName(name))
                throw new InvalidOperationException($"Auth:Keys: '{name}' is not a key name (1-64 of letters, digits, '.', '_', '-')");
            var secret = entry["Secret"];
            if (string.IsNullOrEmpty(secret))
                throw new InvalidOperationException($"Auth:Keys:{name}:Secret is not set");
            if (secret.Length < MinSecretLength)
                throw new InvalidOperationException($"Auth:Keys:{name}:Secret is shorter than {MinSecretLength} characters");
            var scopes = ScopeNames.Parse(entry["Scopes"], name);
            if (scopes == Scopes.None)
                throw new InvalidOperationException($"Auth:Keys:{name}:Scopes names no scope (read, write, admin, tap)");
            var hash = Hash(secret);
            if (keys.FirstOrDefault(k => CryptographicOperations.FixedTimeEquals(k.Hash, hash)) is { } twin)
                throw new InvalidOperationException($"Auth:Keys:{name} has the same secret as {twin.Name}: a change could not say whose it was");
            keys.Add(new ApiKey(name, scopes, hash));
        }
        return new ApiKeyRing(keys);
    }

    /// <summary>The key whose secret this is, or null. Looks at every key whatever it finds.</summary>
    public ApiKey? Match(ReadOnlySpan<char> secret)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        HashInto(secret, hash);
        ApiKey? found = null;
        foreach (var key in _keys)
        {
            // No early exit: the loop takes as long for the first key as for none.
            var same = CryptographicOperations.FixedTimeEquals(key.Hash, hash);
            found = same ? key : found;
        }
        return found;
    }

    internal static byte[] Hash(ReadOnlySpan<char> secret)
    {
        var hash = new byte[SHA256.HashSizeInBytes];
        HashInto(secret, hash);
        return hash;
    }

    private static void HashInto(ReadOnlySpan<char> secret, Span<byte> hash)
    {
        // Secrets are short; a long junk header is hashed from a rented buffer, never refused by length
        // (that would tell a prober something).
        var max = Encoding.UTF8.GetMaxByteCount(secret.Length);
        var rented = max > 512 ? System.Buffers.ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> utf8 = rented ?? stackalloc byte[512];
        var n = Encoding.UTF8.GetBytes(secret, utf8);
        SHA256.HashData(utf8[..n], hash);
        if (rented is not null)
        {
            CryptographicOperations.ZeroMemory(rented.AsSpan(0, n));
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
        else
        {
            CryptographicOperations.ZeroMemory(utf8[..n]);
        }
    }

    /// <summary>1-64 of letters, digits, '.', '_', '-'.</summary>
    private static bool IsKeyName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
