using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>A cloner as the API shows it.</summary>
public sealed record ClonerInfo(string Name, InterfaceKind Kind, int MaxUnit, bool AutoUnit, bool NoGroup, int MinIfs, int Interfaces);

/// <summary>An interface as the API shows it, without its live counters.</summary>
public sealed record InterfaceInfo(
    Guid Id,
    int Index,
    string Name,
    InterfaceKind Kind,
    string? Cloner,
    int? Unit,
    IfFlags Flags,
    int Mtu,
    int Metric,
    string? Description,
    string? Lladdr,
    IReadOnlyList<string> Groups,
    DateTimeOffset CreatedAt,
    long Version,
    string? Peer,
    int? VlanTag,
    string? Parent,
    IReadOnlyList<string>? Members = null);

/// <summary>Kind-specific create parameters (<c>ifc_data.params</c>).</summary>
public sealed record CreateParams(int? Vlan = null, string? Parent = null, string? Lladdr = null);

public sealed record InterfacePage(IReadOnlyList<InterfaceInfo> Items, int? NextAfterIndex);

/// <summary>A group (<c>struct ifg_group</c>) and its members' names.</summary>
public sealed record GroupInfo(string Name, IReadOnlyList<string> Members);

/// <summary>
/// An <c>Idempotency-Key</c> and the request it came with. Keys are kept <see cref="Lifetime"/>;
/// the same key with another request is refused.
/// </summary>
public sealed record IdempotencyKey(string Key, string RequestHash)
{
    public const int MaxLength = IdempotencyRow.MaxKeyLength;
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
}
