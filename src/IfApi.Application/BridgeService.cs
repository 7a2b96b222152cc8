using IfApi.Domain;
using IfApi.Store;
using Microsoft.Extensions.Logging;

namespace IfApi.Application;

/// <summary>A bridge's members: <c>BRDGGIFS</c>, <c>BRDGADD</c>, <c>BRDGDEL</c>.</summary>
public sealed class BridgeService(TransactionRunner tx, ILinkObserver links, ILogger<BridgeService> log)
{
    /// <summary>A bridge's members by index (<c>BRDGGIFS</c>).</summary>
    public Task<IReadOnlyList<string>> MembersAsync(string bridge, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => (IReadOnlyList<string>)await s.MembersOfAsync((await FindBridgeAsync(s, bridge, ct)).Id, ct), ct);

    /// <summary>
    /// <c>BRDGADD</c> (<c>bridge_ioctl_add</c>): <paramref name="member"/> joins the bridge. Already a
    /// member of this bridge: nothing changes (<c>Added</c> false); of another: EBUSY. Only
    /// Ethernet-like interfaces can join (EOPNOTSUPP). The bridge's version moves with its members.
    /// </summary>
    public Task<(bool Added, InterfaceInfo Bridge)> AddAsync(string bridge, string member, IReadOnlySet<long>? ifMatch, string? actor,
        CancellationToken ct)
    {
        return tx.WriteAsync(actor, async (s, ct) =>
        {
            var b = await FindBridgeAsync(s, bridge, ct);
            var m = await FindMemberAsync(s, member, Ioctl.BridgeAdd, ct);
            if (m.Id == b.Id || !m.Kind.IsEthernet() || m.Kind == InterfaceKind.Bridge)
                throw new IfError(Errno.EOPNOTSUPP, $"'{m.Name}' is not an Ethernet interface a bridge can hold", Ioctl.BridgeAdd);
            var (row, memberRow) = await LockPairAsync(s, b.Id, m.Id, bridge, member, Ioctl.BridgeAdd, ct);
            Views.CheckVersion(row.Row, ifMatch);
            if (memberRow.BridgeId == b.Id)
                return (false, Views.ToInfo(row));
            if (memberRow.BridgeId is not null)
                throw new IfError(Errno.EBUSY, $"'{memberRow.Name}' is a member of another bridge", Ioctl.BridgeAdd);
            memberRow.BridgeId = b.Id;
            row.Row.Version++;
            row.Members!.Add(memberRow.Name);
            Announce.Members(s, row);
            if (!BatchService.InDryRun) // a dry run changed nothing to tell
                log.LogInformation("{Member} joined bridge {Bridge}", memberRow.Name, row.Row.Name);
            s.AfterCommit(ct => links.ChangedAsync([b.Id, m.Id], ct).AsTask());
            return (true, Views.ToInfo(row));
        }, ct);
    }

    /// <summary><c>BRDGDEL</c> (<c>bridge_ioctl_del</c>): the member leaves; not a member of it → ENOENT.</summary>
    public Task<InterfaceInfo> RemoveAsync(string bridge, string member, IReadOnlySet<long>? ifMatch, string? actor, CancellationToken ct)
    {
        return tx.WriteAsync(actor, async (s, ct) =>
        {
            var b = await FindBridgeAsync(s, bridge, ct);
            var m = await FindMemberAsync(s, member, Ioctl.BridgeDelete, ct);
            var (row, memberRow) = await LockPairAsync(s, b.Id, m.Id, bridge, member, Ioctl.BridgeDelete, ct);
            Views.CheckVersion(row.Row, ifMatch);
            if (memberRow.BridgeId != b.Id)
                throw new IfError(Errno.ENOENT, $"'{memberRow.Name}' is not a member of '{row.Row.Name}'", Ioctl.BridgeDelete);
            memberRow.BridgeId = null;
            row.Row.Version++;
            row.Members!.Remove(memberRow.Name);
            Announce.Members(s, row);
            if (!BatchService.InDryRun)
                log.LogInformation("{Member} left bridge {Bridge}", memberRow.Name, row.Row.Name);
            s.AfterCommit(ct => links.ChangedAsync([b.Id, m.Id], ct).AsTask());
            return Views.ToInfo(row);
        }, ct);
    }

    private static async Task<InterfaceBrief> FindBridgeAsync(StoreSession s, string reference, CancellationToken ct)
    {
        var b = await s.BriefAsync(reference, ct) ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'");
        return b.Kind == InterfaceKind.Bridge ? b : throw new IfError(Errno.EOPNOTSUPP, $"'{b.Name}' is not a bridge");
    }

    /// <summary>As <c>bridge_ioctl_add</c>'s <c>ifunit</c>: an unknown member is ENOENT.</summary>
    private static async Task<InterfaceBrief> FindMemberAsync(StoreSession s, string reference, string ioctl, CancellationToken ct) =>
        await s.BriefAsync(reference, ct) ?? throw new IfError(Errno.ENOENT, $"no interface '{reference}'", ioctl);

    /// <summary>Locks the bridge's and the member's rows, and reads them again (the bridge with its members) as they are now.</summary>
    private static async Task<(InterfaceView Bridge, InterfaceRow Member)> LockPairAsync(StoreSession s, Guid bridgeId, Guid memberId,
        string bridge, string member, string ioctl, CancellationToken ct)
    {
        await s.LockInterfacesAsync([bridgeId, memberId], ct);
        var b = await s.ViewForChangeAsync(bridgeId, ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{bridge}'", ioctl); // destroyed meanwhile
        var m = await s.RowForChangeAsync(memberId, ct)
            ?? throw new IfError(Errno.ENOENT, $"no interface '{member}'", ioctl);
        return (b, m);
    }
}
