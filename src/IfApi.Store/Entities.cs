using IfApi.Domain;

namespace IfApi.Store;

/// <summary>A cloner definition (<c>struct if_clone</c>). <see cref="Seq"/> orders the list newest first.</summary>
public sealed class ClonerRow
{
    public long Seq { get; set; }
    /// <summary>The vnet whose cloner it is (<c>V_if_cloners</c>): each vnet has its own, with its own unit pools.</summary>
    public string Vnet { get; set; } = Vnets.Host;
    public required string Name { get; set; }
    public required string Kind { get; set; }
    public int MaxUnit { get; set; }
    public bool NoGroup { get; set; }
    public int MinIfs { get; set; }
    public DateTimeOffset AttachedAt { get; set; }
}

/// <summary>
/// One interface (<c>struct ifnet</c>). Its unit is taken out of its cloner's pool and its index out
/// of the index pool in the transaction that inserts this row, and given back in the one that deletes it.
/// </summary>
public sealed class InterfaceRow
{
    public Guid Id { get; set; }
    /// <summary>The vnet it is in now (<c>ifp->if_vnet</c>): its name and index are unique there.</summary>
    public string Vnet { get; set; } = Vnets.Host;
    /// <summary>The vnet whose cloner made it (<c>ifp->if_home_vnet</c>): its unit is that cloner's.</summary>
    public string HomeVnet { get; set; } = Vnets.Host;
    public int Index { get; set; }
    public required string Name { get; set; }
    public required string Kind { get; set; }
    public string? Cloner { get; set; }
    public int? Unit { get; set; }
    public int Flags { get; set; }
    public int Mtu { get; set; }
    public int Metric { get; set; }
    public string? Description { get; set; }
    public string? Lladdr { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public long Version { get; set; }
    /// <summary>The other end of an epair.</summary>
    public Guid? PeerId { get; set; }
    /// <summary>A vlan's parent and tag; both null while the vlan is unconfigured.</summary>
    public Guid? ParentId { get; set; }
    public int? VlanTag { get; set; }
    /// <summary>The bridge this interface is a member of (<c>ifp->if_bridge</c>); one at most.</summary>
    public Guid? BridgeId { get; set; }

    public List<GroupMemberRow> Groups { get; set; } = [];
}

/// <summary>Membership of one interface in one group (<c>struct ifg_list</c>).</summary>
public sealed class GroupMemberRow
{
    public Guid InterfaceId { get; set; }
    /// <summary>The member's vnet: groups are per vnet (<c>V_ifg_head</c>).</summary>
    public string Vnet { get; set; } = Vnets.Host;
    public required string Group { get; set; }
}

/// <summary>
/// One unit pool (the kernel's <c>unrhdr</c>): a cloner's units (pool = cloner name, 0..its
/// maxUnit) or the interface indexes (pool = <see cref="Pools.Ifindex"/>, 1..int.MaxValue). Units
/// from <see cref="Fresh"/> up to <see cref="Hi"/> have never been handed out and are free without a
/// row; below it, a unit is free exactly when it has a <see cref="FreeUnitRow"/>.
/// </summary>
/// <remarks>
/// Lock story: a create claims a free unit by deleting its row, skipping rows other transactions
/// hold (<c>FOR UPDATE SKIP LOCKED</c>), so creates on one pool never wait for each other's commits;
/// a destroy gives a unit back by inserting its row. Rows for fresh units are made ahead, a few at
/// a time, by a short transaction of their own that holds this row only while it runs.
/// </remarks>
public sealed class UnitPoolRow
{
    public required string Pool { get; set; }
    public long Fresh { get; set; }
    public int Hi { get; set; }
}

/// <summary>A free unit of a pool below its <see cref="UnitPoolRow.Fresh"/> (never held by an interface).</summary>
public sealed class FreeUnitRow
{
    public required string Pool { get; set; }
    public int Unit { get; set; }
}

/// <summary>
/// A create made with an <c>Idempotency-Key</c>, written in the create's transaction: a retry with
/// the same key and request gets <see cref="Result"/> back instead of a second interface.
/// </summary>
public sealed class IdempotencyRow
{
    /// <summary>The longest key kept.</summary>
    public const int MaxKeyLength = 255;

    /// <summary>A key is kept under its vnet (<see cref="In"/>): tenants never see each other's answers.</summary>
    public const int MaxStoredKeyLength = MaxKeyLength + 1 + 16;

    /// <summary>
    /// How <paramref name="key"/> of <paramref name="vnet"/> is stored: the host's bare, another's after
    /// its vnet and a space, which no key holds (they are printable ASCII without spaces).
    /// </summary>
    public static string In(string vnet, string key) => vnet == Vnets.Host ? key : vnet + " " + key;

    public required string Key { get; set; }
    /// <summary>SHA-256 of the request, so the same key with another request can be refused.</summary>
    public required string RequestHash { get; set; }
    /// <summary>The interface as the first answer showed it, as JSON.</summary>
    public required string Result { get; set; }
    /// <summary>When the key lapses, in Unix milliseconds (a number both stores compare natively).</summary>
    public long ExpiresAt { get; set; }
}

/// <summary>
/// A tap's device is open on one replica: <see cref="Holder"/> renews the lease while it keeps the
/// device open and deletes it when it closes; a holder that crashed stops renewing, and once the
/// lease has expired any replica may open the device (and clears IFF_RUNNING meanwhile).
/// </summary>
public sealed class TapLeaseRow
{
    public Guid InterfaceId { get; set; }
    /// <summary>The replica (<see cref="StoreOptions.ReplicaId"/>) that has the device open.</summary>
    public required string Holder { get; set; }
    /// <summary>Unix milliseconds by the holder's clock; replicas' clocks must agree to well within the lease.</summary>
    public long ExpiresAt { get; set; }
}

/// <summary>A virtual network stack (VIMAGE's <c>struct vnet</c>): its own interfaces, indexes, groups, cloners and events.</summary>
public sealed class VnetRow
{
    public required string Name { get; set; }
    /// <summary>How many interfaces it may hold: the size of its index pool.</summary>
    public int MaxInterfaces { get; set; }
    /// <summary>When it was made, by the clock events are stamped with: its stream begins here (a deleted namesake's events are before).</summary>
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>Store-wide facts, such as whether the built-in cloners were attached.</summary>
public sealed class MetaRow
{
    public required string Key { get; set; }
    public required string Value { get; set; }
}

public static class Pools
{
    /// <summary>Not a possible cloner name (those are letters only), so it cannot collide with one.</summary>
    public const string Ifindex = "#ifindex";
    public const string Bootstrap = "#bootstrap";
    /// <summary>The lock sequencers take turns on.</summary>
    public const string Events = "#events";

    /// <summary>A group's lock: whoever holds it can tell whether a change begins or ends the group.</summary>
    public static string Group(string name) => "#group:" + name;

    /// <summary>
    /// A pool or lock name of <paramref name="vnet"/>: the host's are the bare names (as before vnets),
    /// another's are prefixed with the vnet and a slash, which no bare name contains.
    /// </summary>
    public static string In(string vnet, string name) => vnet == Vnets.Host ? name : vnet + "/" + name;
}

/// <summary>The vnet the code running now works in (the kernel's <c>curvnet</c>), set once per request.</summary>
public static class Curvnet
{
    private static readonly AsyncLocal<string?> Current = new();

    /// <summary>The current vnet; <see cref="Vnets.Host"/> unless set.</summary>
    public static string Name => Current.Value ?? Vnets.Host;

    /// <summary><c>CURVNET_SET</c> for the rest of the calling async flow (an async method's change stays in it).</summary>
    public static void Set(string vnet) => Current.Value = vnet;
}
