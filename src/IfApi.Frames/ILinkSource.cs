using IfApi.Domain;

namespace IfApi.Frames;

/// <summary>Where the frame path reads how interfaces are wired: the store, seen from here.</summary>
public interface ILinkSource
{
    /// <summary>
    /// The interfaces a frame of any of <paramref name="ids"/> can reach: each one, its epair peer,
    /// its bridge, that bridge's members, and so on through them. Those that do not exist are absent.
    /// </summary>
    Task<IReadOnlyList<LinkState>> GetLinksAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct);
}

/// <summary>What the frame path needs to know of one interface.</summary>
/// <param name="Id">The interface.</param>
/// <param name="Kind">Its kind: a bridge becomes a <see cref="Frames.Bridge"/>, any other a <see cref="Port"/>.</param>
/// <param name="Flags">Its flags, of which the frame path reads <see cref="IfFlags.Up"/> and <see cref="IfFlags.Running"/>.</param>
/// <param name="Mtu">The longest payload its frames carry.</param>
/// <param name="Peer">The other end of an epair.</param>
/// <param name="Bridge">The bridge it is a member of.</param>
/// <param name="Vnet">The vnet it is in: what its traffic is counted under.</param>
public sealed record LinkState(Guid Id, InterfaceKind Kind, IfFlags Flags, int Mtu, Guid? Peer, Guid? Bridge, string Vnet = Vnets.Host)
{
    public bool Up => (Flags & IfFlags.Up) != 0;

    /// <summary>A tap's device is open, on this replica or another.</summary>
    public bool Running => (Flags & IfFlags.Running) != 0;
}
