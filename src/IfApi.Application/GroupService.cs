using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>Interface groups (<c>struct ifg_group</c>): join, leave, and who is in which.</summary>
public sealed class GroupService(TransactionRunner tx)
{
    /// <summary>SIOCGIFGROUP: the groups of one interface, <c>all</c> first.</summary>
    public Task<IReadOnlyList<string>> GroupsOfAsync(string reference, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => (IReadOnlyList<string>)Views.OrderGroups(await s.GroupsOfAsync(reference, ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.GetGroups)), ct);

    /// <summary>
    /// SIOCAIFGROUP (<c>if_addgroup</c>): joins the group, creating it with its first member. Already
    /// a member: EEXIST, or with <paramref name="idempotent"/> nothing happens and the answer says so.
    /// </summary>
    public Task<(bool Added, InterfaceInfo Interface)> JoinAsync(string reference, string group, bool idempotent, IReadOnlySet<long>? ifMatch,
        string? actor, CancellationToken ct)
    {
        GroupNames.Validate(group, Ioctl.AddGroup);
        return tx.WriteAsync(actor, async (s, ct) =>
        {
            var found = await LockForGroupAsync(s, reference, group, Ioctl.AddGroup, ct);
            Views.CheckVersion(found.Row, ifMatch);
            if (found.Groups.Contains(group))
            {
                return idempotent
                    ? (false, Views.ToInfo(found))
                    : throw new IfError(Errno.EEXIST, $"'{found.Row.Name}' is in group '{group}' already", Ioctl.AddGroup);
            }
            var begins = !await s.GroupHasMembersAsync(group, ct);
            s.Join(found.Row.Id, group);
            found.Row.Version++;
            if (begins)
                s.Announce(new GroupAttach(group));
            Announce.Membership(s, found.Row.Id, found.Row.Name, group, member: true);
            found.Groups.Add(group);
            return (true, Views.ToInfo(found));
        }, ct);
    }

    /// <summary>SIOCDIFGROUP (<c>if_delgroup</c>): leaves the group, which ends with its last member. Leaving <c>all</c> is allowed, as in the kernel.</summary>
    public Task<InterfaceInfo> LeaveAsync(string reference, string group, IReadOnlySet<long>? ifMatch, string? actor, CancellationToken ct)
    {
        GroupNames.Validate(group, Ioctl.DeleteGroup);
        return tx.WriteAsync(actor, async (s, ct) =>
        {
            var found = await LockForGroupAsync(s, reference, group, Ioctl.DeleteGroup, ct);
            Views.CheckVersion(found.Row, ifMatch);
            if (!found.Groups.Remove(group))
                throw new IfError(Errno.ENOENT, $"'{found.Row.Name}' is not in group '{group}'", Ioctl.DeleteGroup);
            await s.LeaveAsync(found.Row.Id, group, ct);
            found.Row.Version++;
            if (!await s.GroupHasMembersAsync(group, ct))
                s.Announce(new GroupDetach(group));
            Announce.Membership(s, found.Row.Id, found.Row.Name, group, member: false);
            return Views.ToInfo(found);
        }, ct);
    }

    /// <summary>
    /// Finds the interface, then locks its row and the group, in that order, and reads it again as it
    /// is now: whether the change begins or ends the group is then certain.
    /// </summary>
    private static async Task<InterfaceView> LockForGroupAsync(StoreSession s, string reference, string group, string ioctl, CancellationToken ct)
    {
        var id = (await s.BriefAsync(reference, ct))?.Id ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", ioctl);
        await s.LockInterfacesAsync([id], ct);
        await s.LockGroupAsync(group, ct);
        return await s.ViewForChangeAsync(id, ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", ioctl); // destroyed meanwhile
    }

    /// <summary>Every group with its members' names (a group exists while it has members).</summary>
    public Task<IReadOnlyList<GroupInfo>> ListAsync(CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => (IReadOnlyList<GroupInfo>)(await s.AllMembershipsAsync(ct))
            .GroupBy(r => r.Group, StringComparer.Ordinal)
            .Select(g => new GroupInfo(g.Key, g.Select(x => x.Member).ToList()))
            .OrderBy(g => g.Name, StringComparer.Ordinal)
            .ToList(), ct);

    /// <summary>SIOCGIFGMEMB: the members of one group, by index; ENOENT when it has none.</summary>
    public Task<GroupInfo> GetAsync(string group, CancellationToken ct)
    {
        GroupNames.Validate(group, Ioctl.GetGroupMembers);
        return tx.ReadAsync(async (s, ct) => await s.GroupMembersAsync(group, ct) is { Count: > 0 } members
            ? new GroupInfo(group, members)
            : throw new IfError(Errno.ENOENT, $"no group '{group}'", Ioctl.GetGroupMembers), ct);
    }
}
