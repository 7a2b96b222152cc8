using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>
/// <c>if_vmove</c>: an interface leaves the vnet it is in as <c>if_detach_internal(ifp, 1)</c> leaves
/// it, and is attached in another, in the caller's transaction. It keeps its id, name, cloner, unit,
/// lladdr, mtu and description; an open tap device stays open, and an epair end stays cabled.
/// </summary>
internal static class Moving
{
    /// <summary>
    /// Moves <paramref name="row"/> (locked and tracked, in the session's vnet) to <paramref name="target"/>,
    /// which exists and is another vnet. The name taken there: EEXIST, nothing changed; the target
    /// full: ENOSPC. Returns the interfaces whose wiring changed (for the frame path).
    /// </summary>
    public static async Task<List<Guid>> MoveAsync(StoreSession s, InterfaceRow row, string target, CancellationToken ct)
    {
        using (s.Enter(target))
        {
            if (await s.NameTakenAsync(row.Name, ct))
                throw new IfError(Errno.EEXIST, $"vnet '{target}' has an interface named '{row.Name}'; nothing was changed", Ioctl.SetVnet);
        }
        var touched = new List<Guid> { row.Id };

        // Departure, in the vnet it is in: if_down, IFAN_DEPARTURE, if_delgroups, and its bridge left.
        var before = Views.Attributes(row);
        var down = before with { Flags = before.Flags & ~IfFlags.Up };
        var bridge = row.BridgeId;
        await Departures.LockBridgesAsync(s, bridge is Guid left ? [left] : [], ct);
        var held = await s.MembershipsAsync([row.Id], ct);
        var (groups, announceGroups) = await Departures.LeaveGroupsAsync(s, [(row.Id, row.Name, await ClonerGroupAsync(s, row, ct))], held, ct);
        await s.LeaveAllAsync([row.Id], ct);
        row.BridgeId = null;
        if (Kinds.Parse(row.Kind) == InterfaceKind.Bridge)
            touched.AddRange(await s.ReleaseMembersAsync(row.Id, ct)); // bridges forward only inside their vnet
        s.FreeUnit(Pools.Ifindex, row.Index);
        Announce.Change(s, row.Id, before, down);
        Announce.Departure(s, row.Id, row.Name, row.Index, row.Cloner, row.Unit, groups[row.Id]);
        announceGroups(s);
        row.Flags = (int)down.Flags;
        row.Version++;
        if (bridge is Guid b)
        {
            touched.Add(b);
            await s.SaveAsync(ct); // the bridge's member list, read next, must not hold it
            await Departures.LeaveBridgesAsync(s, [b], ct);
        }

        // Arrival, in the target: the lowest free index, all, and its cloner's group when the target
        // has that cloner without noGroup (if_clone_restoregroup).
        using (s.Enter(target))
        {
            row.Index = await Cloning.AllocIndexAsync(s, ct, ioctl: Ioctl.SetVnet);
            row.Vnet = target;
            var joined = new List<string> { GroupNames.All };
            s.Join(row.Id, GroupNames.All);
            if (await ClonerGroupAsync(s, row, ct) is { } group && group != GroupNames.All)
            {
                s.Join(row.Id, group);
                joined.Add(group);
            }
            s.Announce(new InterfaceArrival(row.Id, row.Name, row.Index, row.Kind, row.Cloner, row.Unit, Views.OrderGroups(joined)));
        }
        return touched;
    }

    /// <summary>The group a clone is in by its cloner in the session's vnet: its cloner's name, when the vnet has that cloner and it is not noGroup.</summary>
    private static async Task<string?> ClonerGroupAsync(StoreSession s, InterfaceRow row, CancellationToken ct) =>
        row.Cloner is { } cloner && await s.ClonerNoGroupAsync(cloner, ct) == false ? cloner : null;
}
