using IfApi.Application;
using System.Text.Json.Serialization;
using IfApi.Domain;
using IfApi.Frames;

namespace IfApi.Interfaces;

/// <summary>
/// An interface declared whole (<c>ifconfig tap create name wan0 mtu 9000 description x group lan up</c>):
/// the create, then each setting, in one transaction. Either <c>name</c> alone picks the cloner (the
/// classic SIOCIFCREATE2: <c>tap</c>, <c>tap7</c>, <c>epair</c>, <c>tap0.100</c>), or <c>cloner</c>
/// (with <c>unit</c> for a given one) creates and <c>name</c> renames the clone.
/// </summary>
/// <param name="Name">Without <c>cloner</c>: a cloner name for the lowest free unit, a cloner name with a unit, or a vlan's <c>parent.tag</c>. With it: the name the clone gets. On PUT: the path's name, or absent.</param>
/// <param name="Params">Kind-specific settings.</param>
/// <param name="Cloner">The cloner to create with.</param>
/// <param name="Unit">With <c>cloner</c>: the unit, instead of the lowest free one.</param>
/// <param name="Mtu">72–65535; default 1500 (lo: 16384).</param>
/// <param name="Metric">The routing metric; default 0.</param>
/// <param name="Description">At most 1023 bytes; default none.</param>
/// <param name="Up">Bring the interface up; default down.</param>
/// <param name="Flags">The changeable flags wanted (as in a patch).</param>
/// <param name="Lladdr">A unicast Ethernet address (tap, bridge, epair, vlan); default a random one.</param>
/// <param name="Groups">Groups to be in besides <c>all</c> and the cloner's own.</param>
public sealed record CreateInterfaceRequest(
    string? Name = null,
    CreateInterfaceParams? Params = null,
    string? Cloner = null,
    int? Unit = null,
    int? Mtu = null,
    int? Metric = null,
    string? Description = null,
    bool? Up = null,
    string[]? Flags = null,
    string? Lladdr = null,
    string[]? Groups = null)
{
    /// <summary>What the request declares, in the domain's terms.</summary>
    public Declaration ToDeclaration() => new()
    {
        Cloner = Cloner,
        Unit = Unit,
        Name = Name,
        Mtu = Mtu,
        Metric = Metric,
        Description = Description,
        Up = Up,
        Flags = Flags is null ? null : IfFlagNames.Parse(Flags, Ioctl.SetFlags),
        Lladdr = Lladdr,
        Groups = Groups is null ? [] : [.. Groups.Select(g => g ?? throw new IfError(Errno.EINVAL, "a group is a string", Ioctl.AddGroup))],
    };

    public CreateParams? ToParams() => Params is { } q ? new CreateParams(q.Vlan, q.Parent, q.Lladdr) : null;
}

/// <summary>Kind-specific create parameters.</summary>
/// <param name="Vlan">vlan: the 802.1Q tag, 1–4094 (with <c>parent</c>).</param>
/// <param name="Parent">vlan: the parent interface (with <c>vlan</c>).</param>
/// <param name="Lladdr">tap: the Ethernet address instead of a random <c>f2:0b:a4:xx:xx:xx</c>.</param>
public sealed record CreateInterfaceParams(int? Vlan, string? Parent, string? Lladdr);

/// <summary>Runtime counters; they live in memory, not in the store.</summary>
public sealed record InterfaceStats(long Ipackets, long Opackets, long Ibytes, long Obytes, long Ierrors, long Oerrors, long Iqdrops, long Oqdrops)
{
    public static readonly InterfaceStats Zero = new(0, 0, 0, 0, 0, 0, 0, 0);

    public static InterfaceStats From(PortStats s) => new(s.Ipackets, s.Opackets, s.Ibytes, s.Obytes, s.Ierrors, s.Oerrors, s.Iqdrops, s.Oqdrops);
}

/// <summary>An interface (<c>struct ifnet</c>).</summary>
public sealed record InterfaceResponse(
    Guid Id,
    int Index,
    string Name,
    string Kind,
    string? Cloner,
    int? Unit,
    string[] Flags,
    bool Up,
    int Mtu,
    int Metric,
    string? Description,
    string? Lladdr,
    IReadOnlyList<string> Groups,
    DateTimeOffset CreatedAt,
    long Version,
    InterfaceStats Stats,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Peer,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Vlan,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Parent,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Members)
{
    /// <summary>The interface with its live counters (zeros when none are given: nothing passed through it).</summary>
    public static InterfaceResponse From(InterfaceInfo i, InterfaceStats? stats = null) => new(
        i.Id, i.Index, i.Name, i.Kind.WireName(), i.Cloner, i.Unit, IfFlagNames.ToNames(i.Flags), (i.Flags & IfFlags.Up) != 0,
        i.Mtu, i.Metric, i.Description, i.Lladdr, i.Groups, i.CreatedAt, i.Version, stats ?? InterfaceStats.Zero,
        i.Peer, i.Kind == InterfaceKind.Vlan ? i.VlanTag : null, i.Parent, i.Members);

    /// <summary>The strong entity tag of this state of the interface.</summary>
    [JsonIgnore]
    public string ETag => Preconditions.ETag(Version);
}

/// <summary>A page of interfaces; pass <c>next</c> as <c>after</c> for the following page.</summary>
public sealed record InterfaceList(IReadOnlyList<InterfaceResponse> Items, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Next);

/// <summary>A JSON merge patch of an interface: only the members given change.</summary>
/// <param name="Name">SIOCSIFNAME: the new name, at most 15 bytes.</param>
/// <param name="Description">SIOCSIFDESCR: at most 1023 bytes; null or "" clears it.</param>
/// <param name="Mtu">SIOCSIFMTU: 72–65535.</param>
/// <param name="Metric">SIOCSIFMETRIC.</param>
/// <param name="Up">SIOCSIFFLAGS: bring the interface up or down.</param>
/// <param name="Flags">SIOCSIFFLAGS: the full set of changeable flags wanted.</param>
/// <param name="Lladdr">SIOCSIFLLADDR: a unicast Ethernet address.</param>
/// <param name="Vnet">SIOCSIFVNET: moves the interface to this vnet (asked alone; a host key with the admin scope).</param>
public sealed record PatchInterfaceRequest(string? Name, string? Description, int? Mtu, int? Metric, bool? Up, string[]? Flags, string? Lladdr, string? Vnet);
