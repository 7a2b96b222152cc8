using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>
/// Told, after a change commits, which interfaces' links (attributes, bridge memberships, existence)
/// it touched, so that whoever carries their frames can follow. Only interfaces that existed before
/// the change are named: a new interface has nothing to follow yet.
/// </summary>
public interface ILinkObserver
{
    ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct);
}

/// <summary>Nobody follows: the use cases alone, as in tools.</summary>
public sealed class NoLinkObserver : ILinkObserver
{
    public ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct) => ValueTask.CompletedTask;
}

/// <summary>How stored rows read as the API's answers.</summary>
internal static class Views
{
    private static readonly string BridgeKind = InterfaceKind.Bridge.WireName();

    public static InterfaceInfo ToInfo(InterfaceView v)
    {
        var i = v.Row;
        return new InterfaceInfo(i.Id, i.Index, i.Name, Kinds.Parse(i.Kind), i.Cloner, i.Unit, (IfFlags)i.Flags, i.Mtu, i.Metric,
            i.Description, i.Lladdr, OrderGroups(v.Groups), i.CreatedAt, i.Version, v.Peer, i.VlanTag, v.Parent,
            i.Kind == BridgeKind ? (IReadOnlyList<string>?)v.Members ?? [] : null);
    }

    public static ClonerInfo ToInfo(ClonerView c) =>
        new(c.Row.Name, Kinds.Parse(c.Row.Kind), c.Row.MaxUnit, true, c.Row.NoGroup, c.Row.MinIfs, c.Interfaces);

    public static ClonerSpec ToSpec(ClonerRow r) => new(r.Name, Kinds.Parse(r.Kind), r.MaxUnit, r.NoGroup, r.MinIfs);

    public static ClonerRow ToRow(ClonerSpec s) => new()
    {
        Name = s.Name,
        Kind = s.Kind.WireName(),
        MaxUnit = s.MaxUnit,
        NoGroup = s.NoGroup,
        MinIfs = s.MinIfs,
        AttachedAt = DateTimeOffset.UtcNow,
    };

    /// <summary><c>all</c> first, then the rest in a stable order.</summary>
    public static string[] OrderGroups(IEnumerable<string> groups) =>
        groups.OrderBy(g => g == GroupNames.All ? 0 : 1).ThenBy(g => g, StringComparer.Ordinal).ToArray();

    public static InterfaceAttributes Attributes(InterfaceRow row) =>
        new(row.Name, (IfFlags)row.Flags, row.Mtu, row.Metric, row.Description, row.Lladdr);

    /// <summary><c>If-Match</c>: the versions the target may be at, or null for any.</summary>
    public static void CheckVersion(string name, long version, IReadOnlySet<long>? ifMatch)
    {
        if (ifMatch is not null && !ifMatch.Contains(version))
            throw IfError.Stale(name, version);
    }

    public static void CheckVersion(InterfaceRow row, IReadOnlySet<long>? ifMatch) => CheckVersion(row.Name, row.Version, ifMatch);
}

/// <summary>What the routing socket says, written once for every use case that says it.</summary>
internal static class Announce
{
    /// <summary>IFAN_ARRIVAL.</summary>
    public static void Arrival(StoreSession s, InterfaceRow row) =>
        s.Announce(new InterfaceArrival(row.Id, row.Name, row.Index, row.Kind, row.Cloner, row.Unit, Views.OrderGroups(row.Groups.Select(g => g.Group))));

    /// <summary>IFAN_DEPARTURE, with the groups the interface left.</summary>
    public static void Departure(StoreSession s, Guid id, string name, int index, string? cloner, int? unit, string[] groups) =>
        s.Announce(new InterfaceDeparture(id, name, index, cloner, unit, groups));

    /// <summary>
    /// What the routing socket would say about a change of attributes: a rename, a link going up or
    /// down, and the other attributes that changed, each as its own event.
    /// </summary>
    public static void Change(StoreSession s, Guid id, InterfaceAttributes before, InterfaceAttributes after)
    {
        if (after.Name != before.Name)
            s.Announce(new InterfaceRename(id, before.Name, after.Name));
        var wasUp = (before.Flags & IfFlags.Up) != 0;
        var isUp = (after.Flags & IfFlags.Up) != 0;
        if (wasUp != isUp)
            s.Announce(isUp ? new LinkUp(id, after.Name) : new LinkDown(id, after.Name));
        var changes = AttributeChanges.Between(before, after);
        if (changes.Any)
            s.Announce(new InterfaceChange(id, after.Name, changes));
    }

    /// <summary><c>group_change_event</c>: an interface joined or left a group.</summary>
    public static void Membership(StoreSession s, Guid id, string name, string group, bool member) =>
        s.Announce(new GroupChange(group, id, name, member));

    /// <summary>RTM_IFINFO for a bridge: its member list changed.</summary>
    public static void Members(StoreSession s, InterfaceView bridge) =>
        s.Announce(new InterfaceChange(bridge.Row.Id, bridge.Row.Name, new AttributeChanges { Members = bridge.Members }));
}
