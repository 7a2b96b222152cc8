using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>What leaves with an interface that is destroyed (<c>if_detach</c>): its groups and its bridge.</summary>
internal static class Departures
{
    /// <summary>
    /// <c>if_delgroups</c> for interfaces about to be destroyed, whose rows the caller locked and whose
    /// memberships (<paramref name="held"/>) it read under that lock: locks the groups they were put in
    /// by group calls (sorted), and leaves every group. Returns, per interface, the groups it was in
    /// (for its departure) and the group events to announce after it. The groups creation put it in
    /// (<c>all</c>, and its cloner's unless the cloner is noGroup) are left silently: its departure
    /// says so. Call before the rows are deleted.
    /// </summary>
    public static async Task<(Dictionary<Guid, string[]> Groups, Action<StoreSession> Announce)> LeaveGroupsAsync(
        StoreSession s, IReadOnlyList<(Guid Id, string Name, string? ClonerGroup)> leaving, IReadOnlyList<Membership> held, CancellationToken ct)
    {
        var ids = leaving.Select(l => l.Id).ToArray();
        var byId = leaving.ToDictionary(l => l.Id);
        var called = held.Where(m => m.Group != GroupNames.All && m.Group != byId[m.InterfaceId].ClonerGroup).ToList();
        var groups = called.Select(m => m.Group).Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var g in groups)
            await s.LockGroupAsync(g, ct);
        if (groups.Count > 0) // to tell which groups end; otherwise they go with the rows
            await s.LeaveAllAsync(ids, ct);
        var stillHeld = groups.Count == 0 ? [] : await s.GroupsWithMembersAsync(groups, ct);
        var ended = groups.Except(stillHeld, StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        var of = leaving.ToDictionary(l => l.Id, l => Views.OrderGroups(held.Where(m => m.InterfaceId == l.Id).Select(m => m.Group)));
        return (of, s =>
        {
            // As _if_delgroup: the member whose leaving ends the group announces the end, then its leaving.
            foreach (var group in called.GroupBy(m => m.Group).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var members = group.ToList();
                for (var i = 0; i < members.Count; i++)
                {
                    if (i == members.Count - 1 && ended.Contains(group.Key))
                        s.Announce(new GroupDetach(group.Key));
                    Announce.Membership(s, members[i].InterfaceId, byId[members[i].InterfaceId].Name, group.Key, member: false);
                }
            }
        });
    }

    /// <summary>
    /// Locks the bridges interfaces are about to leave, after their own rows and before any group
    /// (<see cref="LeaveGroupsAsync"/>): departures from one bridge take turns, each moving its
    /// version, where reading it unlocked made a burst of them race and run again.
    /// </summary>
    public static Task LockBridgesAsync(StoreSession s, Guid[] bridges, CancellationToken ct) =>
        bridges.Length == 0 ? Task.CompletedTask : s.LockInterfacesAsync(bridges, ct);

    /// <summary>
    /// Bridges that lost members to interfaces deleted in this transaction (<c>bridge_ifdetach</c>), locked by <see cref="LockBridgesAsync"/>,
    /// after the delete: each remaining one's version moves and its members are announced.
    /// </summary>
    public static async Task LeaveBridgesAsync(StoreSession s, IReadOnlyCollection<Guid> bridges, CancellationToken ct)
    {
        foreach (var b in bridges)
        {
            if (await s.ViewForChangeAsync(b, ct) is { } bridge)
            {
                bridge.Row.Version++;
                Announce.Members(s, bridge);
            }
        }
    }
}
