using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace IfApi.Domain;

/// <summary>Where a bridge sends a frame (<c>bridge_input</c> / <c>bridge_forward</c>).</summary>
public enum ForwardKind
{
    /// <summary>Not an Ethernet frame, or addressed back to the port it came in on: nowhere.</summary>
    Drop,
    /// <summary>A known unicast destination: to its one port.</summary>
    Unicast,
    /// <summary>Broadcast, multicast or unknown unicast: to every other up member.</summary>
    Flood,
}

/// <summary>A forwarding decision: the kind and, for <see cref="ForwardKind.Unicast"/>, the port.</summary>
public readonly record struct Forward(ForwardKind Kind, int Port)
{
    public static readonly Forward Drop = new(ForwardKind.Drop, -1);
    public static readonly Forward Flood = new(ForwardKind.Flood, -1);
}

/// <summary>The Ethernet header as a switch reads it, without copying the frame.</summary>
public static class EthernetHeader
{
    /// <summary>Destination, source and EtherType: the shortest frame a port accepts.</summary>
    public const int Length = 14;

    /// <summary>An 802.1Q tag, which a frame may carry beyond the MTU.</summary>
    public const int VlanTagLength = 4;

    /// <summary>The destination address as a number (the 48 bits in network order).</summary>
    public static ulong Destination(ReadOnlySpan<byte> frame) => Address(frame);

    /// <summary>The source address as a number.</summary>
    public static ulong Source(ReadOnlySpan<byte> frame) => Address(frame[6..]);

    private static ulong Address(ReadOnlySpan<byte> at) =>
        ((ulong)BinaryPrimitives.ReadUInt16BigEndian(at) << 32) | BinaryPrimitives.ReadUInt32BigEndian(at[2..]);

    /// <summary>The group bit (<c>ETHER_IS_MULTICAST</c>): broadcast and multicast addresses have it.</summary>
    public static bool IsGroup(ulong address) => (address & (1UL << 40)) != 0;

    /// <summary>The EtherType of an 802.1Q tag (<c>ETHERTYPE_VLAN</c>).</summary>
    public const ushort VlanEtherType = 0x8100;

    /// <summary>
    /// Whether a port with this MTU accepts the frame (else an input error): a header at least, and a
    /// payload of at most the MTU, four bytes more when the frame carries a VLAN tag.
    /// </summary>
    public static bool HasValidLength(ReadOnlySpan<byte> frame, int mtu) =>
        frame.Length >= Length
        && (frame.Length <= mtu + Length
            || frame.Length <= mtu + Length + VlanTagLength && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == VlanEtherType);
}

/// <summary>
/// A bridge's forwarding table (<c>if_bridge.c</c>'s route table): the port each source address was
/// last seen on, for as long as the age limit, learned from traffic. It is read and written by every
/// port's receive path at once, so it is lock-free for them: a station already known is updated in
/// place, and only a new one allocates. Aging and purging are the slow path, run by the bridge.
/// </summary>
/// <param name="ageLimitMs">How long an entry lives without its station being heard (<c>brt_expire</c>; 300 s by default).</param>
/// <param name="maxAddresses">
/// How many stations it holds at most (<c>brt_max</c>). When full, new stations are not learned and
/// frames to them are flooded, as the kernel does, so a flood of forged source addresses cannot
/// grow memory without bound.
/// </param>
public sealed class LearningBridge(long ageLimitMs = LearningBridge.DefaultAgeLimitMs, int maxAddresses = LearningBridge.DefaultMaxAddresses)
{
    public const long DefaultAgeLimitMs = 300_000;
    public const int DefaultMaxAddresses = 2000;

    private sealed class Station(int port, long expires)
    {
        public int Port = port;
        public long Expires = expires;
    }

    private readonly ConcurrentDictionary<ulong, Station> _stations = new();
    private int _count;

    /// <summary>How many stations are known (expired ones included until aged out).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Decides where a frame that came in on <paramref name="ingress"/> goes, learning its source on the
    /// way (<c>bridge_rtupdate</c>): a frame to a group address floods; to a known station, it goes to
    /// that station's port, or nowhere when that is the port it came from; to an unknown one, it floods.
    /// <paramref name="now"/> is a millisecond clock, as <see cref="Environment.TickCount64"/>.
    /// </summary>
    public Forward Decide(ReadOnlySpan<byte> frame, int ingress, long now)
    {
        if (frame.Length < EthernetHeader.Length)
            return Forward.Drop;
        var source = EthernetHeader.Source(frame);
        if (!EthernetHeader.IsGroup(source) && source != 0)
            Learn(source, ingress, now);
        var destination = EthernetHeader.Destination(frame);
        if (EthernetHeader.IsGroup(destination))
            return Forward.Flood;
        var port = Lookup(destination, now);
        if (port < 0)
            return Forward.Flood;
        return port == ingress ? Forward.Drop : new Forward(ForwardKind.Unicast, port);
    }

    /// <summary>Notes that <paramref name="address"/> was heard on <paramref name="port"/>; a station that moved follows.</summary>
    public void Learn(ulong address, int port, long now)
    {
        var expires = now + ageLimitMs;
        if (_stations.TryGetValue(address, out var known))
        {
            // Two ports may hear one station at once; either answer is a station's last known port.
            Volatile.Write(ref known.Port, port);
            Volatile.Write(ref known.Expires, expires);
            return;
        }
        if (Interlocked.Increment(ref _count) > maxAddresses)
        {
            Interlocked.Decrement(ref _count);
            return; // full: flood to it instead (bridge_rtupdate's ENOSPC)
        }
        if (!_stations.TryAdd(address, new Station(port, expires)))
        {
            Interlocked.Decrement(ref _count); // another port learned it first
            Learn(address, port, now);
        }
    }

    /// <summary>The port <paramref name="address"/> was last heard on, or -1 when unknown or aged out.</summary>
    public int Lookup(ulong address, long now) =>
        _stations.TryGetValue(address, out var s) && Volatile.Read(ref s.Expires) > now ? Volatile.Read(ref s.Port) : -1;

    /// <summary>Forgets every station heard on <paramref name="port"/> (<c>bridge_rtdelete</c>: the port left). Returns how many.</summary>
    public int Purge(int port) => RemoveWhere(s => Volatile.Read(ref s.Port) == port);

    /// <summary>Forgets the stations not heard within the age limit (<c>bridge_rtage</c>). Returns how many.</summary>
    public int Age(long now) => RemoveWhere(s => Volatile.Read(ref s.Expires) <= now);

    private int RemoveWhere(Func<Station, bool> doomed)
    {
        var removed = 0;
        foreach (var (address, station) in _stations)
        {
            // A station heard again between the judgement and the removal is forgotten anyway; its
            // next frame learns it anew, and frames to it flood until then.
            if (doomed(station) && _stations.TryRemove(new KeyValuePair<ulong, Station>(address, station)))
            {
                Interlocked.Decrement(ref _count);
                removed++;
            }
        }
        return removed;
    }
}
