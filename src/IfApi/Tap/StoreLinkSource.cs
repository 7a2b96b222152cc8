using IfApi.Frames;
using IfApi.Store;

namespace IfApi.Tap;

/// <summary>The frame path reads links from the store, in its own record.</summary>
internal sealed class StoreLinkSource(IfStore store) : ILinkSource
{
    public async Task<IReadOnlyList<LinkState>> GetLinksAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        var rows = await store.GetLinksAsync(ids, ct);
        return rows.Select(r => new LinkState(r.Id, r.Kind, r.Flags, r.Mtu, r.Peer, r.Bridge)).ToList();
    }
}
