using IfApi.Application;
using IfApi.Frames;
using IfApi.Store;

namespace IfApi.Tap;

/// <summary>The frame path reads links from the store, in its own record.</summary>
internal sealed class StoreLinkSource(TransactionRunner tx) : ILinkSource
{
    public Task<IReadOnlyList<LinkState>> GetLinksAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => (IReadOnlyList<LinkState>)(await s.LinksAsync(ids, ct))
            .ConvertAll(r => new LinkState(r.Id, r.Kind, r.Flags, r.Mtu, r.Peer, r.Bridge, r.Vnet)), ct);
}

/// <summary>The use cases tell the frame plane what a committed change touched.</summary>
internal sealed class FramePlaneObserver(FramePlane plane) : ILinkObserver
{
    public ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct) => plane.ChangedAsync(ids, ct);
}
