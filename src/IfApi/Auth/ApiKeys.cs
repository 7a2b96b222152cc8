using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

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
    /// <summary>Attaching and detaching cloners; for a host key also creating and deleting vnets and moving interfaces between them.</summary>
    Admin = 4,
    /// <summary>Opening a tap's character device (and the cloning device).</summary>
    Tap = 8,
    All = Read | Write | Admin | Tap,
}

/// <summary>
/// One configured key: its name (what logs and events record), its scopes, and the vnet it is bound
/// to (null: a host key). The secret is kept only as a hash.
/// </summary>
public sealed class ApiKey(string name, Scopes scopes, byte[] hash, string? vnet = null)
{
    public string Name { get; } = name;
    public Scopes Scopes { get; } = scopes;
    internal byte[] Hash { get; } = hash;

    /// <summary>The vnet the key lives in, as a jailed process lives in its prison; null for the host's keys.</summary>
    public string? Vnet { get; } = vnet;

    public override string ToString() => $"{Name} ({ScopeNames.Format(Scopes)}{(Vnet is null ? "" : $", vnet {Vnet}")})";
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

    /// <summary>
    /// Parses <c>Auth:Keys:&lt;name&gt;:Scopes</c>: names separated by spaces (or commas). False, with
    /// the first word that names none, when a word is not a scope.
    /// </summary>
    public static bool TryParse(string? text, out Scopes scopes, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? unknown)
    {
        scopes = Scopes.None;
        foreach (var word in (text ?? "").Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            var scope = word.ToLowerInvariant() switch
            {
                Read => Scopes.Read,
                Write => Scopes.Write,
                Admin => Scopes.Admin,
                Tap => Scopes.Tap,
                _ => Scopes.None,
            };
            if (scope == Scopes.None)
            {
                unknown = word;
                return false;
            }
            scopes |= scope;
        }
        unknown = null;
        return true;
    }
}

/// <summary><c>Auth:Keys:&lt;name&gt;:Secret</c> and <c>Auth:Keys:&lt;name&gt;:Scopes</c> (SPEC, Configuration). No keys: the service is open.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    public Dictionary<string, ApiKeyOptions> Keys { get; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>One key as configured; <see cref="AuthOptionsValidation"/> says what it must be.</summary>
public sealed class ApiKeyOptions
{
    public string? Secret { get; set; }

    /// <summary>Any of <c>read write admin tap</c>, separated by spaces (or commas).</summary>
    public string? Scopes { get; set; }

    /// <summary>The vnet the key is bound to (<c>Auth:Keys:&lt;name&gt;:Vnet</c>); unset: a host key.</summary>
    public string? Vnet { get; set; }
}

/// <summary>Every key must be able to work, and say whose a change was; otherwise the service does not start.</summary>
internal sealed class AuthOptionsValidation(IConfiguration configuration) : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var failures = new List<string>();
        // A name given a value and nothing under it (Auth__Keys__ci=...) binds to no key, yet it names
        // one, and it makes the service leave loopback (AuthSetup): it must stop the start too.
        foreach (var configured in configuration.GetSection($"{AuthOptions.Section}:{nameof(AuthOptions.Keys)}").GetChildren())
        {
            if (!options.Keys.ContainsKey(configured.Key))
                failures.Add($"Auth:Keys:{configured.Key}:Secret is not set");
        }
        var hashes = new List<(string Name, byte[] Hash)>();
        foreach (var (keyName, key) in options.Keys)
        {
            if (!ApiKeyRing.IsKeyName(keyName))
            {
                failures.Add($"Auth:Keys: '{keyName}' is not a key name (1-64 of letters, digits, '.', '_', '-')");
                continue;
            }
            if (string.IsNullOrEmpty(key.Secret))
                failures.Add($"Auth:Keys:{keyName}:Secret is not set");
            else if (key.Secret.Length < ApiKeyRing.MinSecretLength)
                failures.Add($"Auth:Keys:{keyName}:Secret is shorter than {ApiKeyRing.MinSecretLength} characters");
            else
            {
                var hash = ApiKeyRing.Hash(key.Secret);
                if (hashes.FirstOrDefault(h => CryptographicOperations.FixedTimeEquals(h.Hash, hash)).Name is { } twin)
                    failures.Add($"Auth:Keys:{keyName} has the same secret as {twin}: a change could not say whose it was");
                hashes.Add((keyName, hash));
            }
            if (!ScopeNames.TryParse(key.Scopes, out var scopes, out var unknown))
                failures.Add($"Auth:Keys:{keyName}:Scopes: '{unknown}' is not one of read, write, admin, tap");
            else if (scopes == Scopes.None)
                failures.Add($"Auth:Keys:{keyName}:Scopes names no scope (read, write, admin, tap)");
            if (key.Vnet is { } vnet && !Domain.Vnets.IsValid(vnet))
                failures.Add($"Auth:Keys:{keyName}:Vnet '{vnet}' is not a vnet name (1-{Domain.Vnets.MaxLength} of a-z, 0-9, '_' and '-', starting with a letter)");
        }
        return Settings.Check([.. failures]);
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

    /// <summary>The keys <paramref name="options"/> configures, once <see cref="AuthOptionsValidation"/> passed them.</summary>
    public static ApiKeyRing From(AuthOptions options) =>
        new(options.Keys.Select(k => new ApiKey(k.Key, ScopeNames.TryParse(k.Value.Scopes, out var scopes, out _) ? scopes : Scopes.None,
            Hash(k.Value.Secret ?? ""), string.IsNullOrEmpty(k.Value.Vnet) || k.Value.Vnet == Domain.Vnets.Host ? null : k.Value.Vnet)));

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
    internal static bool IsKeyName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
