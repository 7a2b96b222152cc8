using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace IfApi.Relay;

/// <summary>Where frames go, one at a time: a place for the next one, then how long it came out.</summary>
public interface IFrameSink
{
    Span<byte> Reserve(int length);

    void Commit(int length);
}

/// <summary>
/// The Internet checksum (RFC 1071): a one's-complement sum of 16-bit words, summed here a machine
/// word at a time; byte order does not change a one's-complement sum, only where its bytes land.
/// </summary>
public static class InternetChecksum
{
    /// <summary>Adds <paramref name="bytes"/> to a running sum (in the machine's byte order).</summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, uint>(bytes);
        foreach (var w in words)
            sum += w;
        var tail = bytes[(words.Length * 4)..];
        if (tail.Length >= 2)
        {
            sum += MemoryMarshal.Read<ushort>(tail);
            tail = tail[2..];
        }
        if (tail.Length == 1)
            sum += BitConverter.IsLittleEndian ? tail[0] : (ulong)tail[0] << 8;
        return sum;
    }

    /// <summary>The sum folded to 16 bits, in network byte order, not inverted.</summary>
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xffffffff) + (sum >> 32);
        sum = (sum & 0xffffffff) + (sum >> 32);
        var s = (uint)sum;
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        var folded = (ushort)s;
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
    }

    /// <summary>The pseudo-header of TCP or UDP (RFC 793, RFC 8200 §8.1) added to <paramref name="sum"/>.</summary>
    public static ulong AddPseudoHeader(ulong sum, ReadOnlySpan<byte> ip, bool v6, byte protocol, int length)
    {
        sum = Add(sum, v6 ? ip.Slice(8, 32) : ip.Slice(12, 8));
        Span<byte> tail = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(tail, (uint)length);
        BinaryPrimitives.WriteUInt32BigEndian(tail[4..], protocol);
        return Add(sum, tail);
    }

    /// <summary>Writes the IPv4 header's checksum.</summary>
    public static void SetIPv4Header(Span<byte> ip, int headerLength)
    {
        ip[10] = ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~Fold(Add(0, ip[..headerLength])));
    }
}

/// <summary>
/// Frames as a Linux tap with <c>IFF_VNET_HDR</c> hands them out and takes them in: each after a
/// virtio-net header (<c>struct virtio_net_hdr</c>, 10 bytes, in the machine's byte order) that can
/// say "the checksum is left to you" and "this is a TCP segment of up to 64 KB to cut at gso_size".
/// With those offloads the host's stack hands over a burst of a TCP stream in one read, and takes
/// one in one write, where without them every 1,500 bytes cost a system call and a trip through the
/// stack. The bridge carries only real Ethernet frames, so what comes from the tap is cut here
/// (<see cref="Segment"/>) and what goes to it is glued (<see cref="Coalescer"/>).
/// </summary>
public static class VirtioNet
{
    public const int HeaderLength = 10;
    public const byte NeedsChecksum = 1, DataValid = 2;
    public const byte GsoNone = 0, GsoTcpV4 = 1, GsoTcpV6 = 4, GsoEcn = 0x80;

    internal const int EthernetLength = 14;
    internal const ushort EtherIPv4 = 0x0800, EtherIPv6 = 0x86dd;
    internal const byte Tcp = 6;
    internal const byte Fin = 0x01, Psh = 0x08, Ack = 0x10, Cwr = 0x80;

    /// <summary>
    /// One read from the tap, <paramref name="packet"/> after its header <paramref name="vnet"/>:
    /// its frames into <paramref name="sink"/>, with their checksums filled in. A TCP segment larger
    /// than its <c>gso_size</c> is cut into segments of that size (their sequence numbers, IPv4 ids,
    /// lengths, flags and checksums as if the stack had sent each one). Returns how many frames
    /// came out; 0 when the packet is not one this can cut (then nothing was written).
    /// </summary>
    public static int Segment(ReadOnlySpan<byte> vnet, Span<byte> packet, IFrameSink sink)
    {
        var flags = vnet[0];
        var gso = (byte)(vnet[1] & ~GsoEcn);
        var gsoSize = BinaryPrimitives.ReadUInt16LittleEndian(vnet[4..]);
        if (gso == GsoNone)
        {
            if ((flags & NeedsChecksum) != 0)
            {
                var start = BinaryPrimitives.ReadUInt16LittleEndian(vnet[6..]);
                var offset = BinaryPrimitives.ReadUInt16LittleEndian(vnet[8..]);
                if (start + offset + 2 > packet.Length)
                    return 0;
                var field = packet.Slice(start + offset, 2);
                var sum = (ushort)~InternetChecksum.Fold(InternetChecksum.Add(0, packet[start..]));
                BinaryPrimitives.WriteUInt16BigEndian(field, sum == 0 && packet.Length > EthernetLength + 9 && IsUdp(packet) ? (ushort)0xffff : sum);
            }
            packet.CopyTo(sink.Reserve(packet.Length));
            sink.Commit(packet.Length);
            return 1;
        }
        if (gso is not (GsoTcpV4 or GsoTcpV6) || gsoSize == 0 || !TryParseTcp(packet, out var ipLength, out var tcpLength, out var v6))
            return 0;
        var headers = EthernetLength + ipLength + tcpLength;
        var payload = packet[headers..];
        var ip = packet.Slice(EthernetLength, ipLength);
        var seq = BinaryPrimitives.ReadUInt32BigEndian(packet[(EthernetLength + ipLength + 4)..]);
        var id = v6 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
        var tcpFlags = packet[EthernetLength + ipLength + 13];
        var count = 0;
        for (var at = 0; at < payload.Length; at += gsoSize, count++)
        {
            var n = Math.Min(gsoSize, payload.Length - at);
            var last = at + n >= payload.Length;
            var frame = sink.Reserve(headers + n);
            packet[..headers].CopyTo(frame);
            payload.Slice(at, n).CopyTo(frame[headers..]);
            var fip = frame.Slice(EthernetLength, ipLength);
            var tcp = frame.Slice(EthernetLength + ipLength, tcpLength + n);
            if (v6)
                BinaryPrimitives.WriteUInt16BigEndian(fip[4..], (ushort)(tcpLength + n));
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(fip[2..], (ushort)(ipLength + tcpLength + n));
                BinaryPrimitives.WriteUInt16BigEndian(fip[4..], (ushort)(id + count));
                InternetChecksum.SetIPv4Header(fip, ipLength);
            }
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq + (uint)at);
            var f = tcpFlags;
            if (!last)
                f &= unchecked((byte)~(Fin | Psh));
            if (count > 0)
                f &= unchecked((byte)~Cwr);
            tcp[13] = f;
            tcp[16] = tcp[17] = 0;
            var sum = InternetChecksum.AddPseudoHeader(0, fip, v6, Tcp, tcp.Length);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~InternetChecksum.Fold(InternetChecksum.Add(sum, tcp)));
            sink.Commit(headers + n);
        }
        return count;
    }

    private static bool IsUdp(ReadOnlySpan<byte> frame) =>
        BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) switch
        {
            EtherIPv4 => frame[EthernetLength + 9] == 17,
            EtherIPv6 => frame.Length > EthernetLength + 6 && frame[EthernetLength + 6] == 17,
            _ => false,
        };

    /// <summary>
    /// An untagged Ethernet frame of TCP over IPv4 (without fragmentation) or IPv6 (without
    /// extension headers), with the lengths of its IP and TCP headers.
    /// </summary>
    internal static bool TryParseTcp(ReadOnlySpan<byte> frame, out int ipLength, out int tcpLength, out bool v6)
    {
        (ipLength, tcpLength, v6) = (0, 0, false);
        if (frame.Length < EthernetLength + 40)
            return false;
        var ip = frame[EthernetLength..];
        switch (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]))
        {
            case EtherIPv4:
                ipLength = (ip[0] & 0xf) * 4;
                if (ip[0] >> 4 != 4 || ipLength < 20 || ip[9] != Tcp || (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3fff) != 0)
                    return false;
                break;
            case EtherIPv6:
                ipLength = 40;
                v6 = true;
                if (ip[0] >> 4 != 6 || ip[6] != Tcp)
                    return false;
                break;
            default:
                return false;
        }
        if (ip.Length < ipLength + 20)
            return false;
        tcpLength = (ip[ipLength + 12] >> 4) * 4;
        return tcpLength >= 20 && ip.Length >= ipLength + tcpLength;
    }
}

/// <summary>
/// Glues consecutive segments of one TCP stream, as they come off the bridge, into one packet for
/// the tap (the receive offload the host's own NIC would do): same addresses, ports, IP and TCP
/// header fields, each segment starting where the last ended, all the size of the first but the
/// last. What cannot be glued is written alone. A segment whose checksum is wrong is never glued
/// (the glued packet's checksum is recomputed, and would hide it): the stack sees it as it came.
/// </summary>
public sealed class Coalescer(Action<ReadOnlySpan<byte>> write)
{
    private const int EthernetLength = VirtioNet.EthernetLength;
    private const int MaxPacket = 65535 - 60; // an IPv4 total length, with room for the longest headers
    private readonly byte[] _packet = new byte[VirtioNet.HeaderLength + 65535 + EthernetLength];
    private int _length;         // bytes in _packet after the virtio-net header; 0 when nothing is held
    private int _headers, _ipLength, _mss, _segments;
    private bool _v6, _push;
    private uint _nextSeq;

    /// <summary>Takes one frame: glued to what is held, or what is held is written and this one held or written.</summary>
    public void Add(ReadOnlySpan<byte> frame)
    {
        if (!VirtioNet.TryParseTcp(frame, out var ipLength, out var tcpLength, out var v6))
        {
            Flush();
            WriteAlone(frame);
            return;
        }
        var headers = EthernetLength + ipLength + tcpLength;
        var payload = frame.Length - headers;
        var tcp = frame.Slice(EthernetLength + ipLength, tcpLength);
        var flags = tcp[13];
        var glueable = payload > 0 && (flags & ~VirtioNet.Psh) == VirtioNet.Ack && LengthsAgree(frame, ipLength, v6) && ChecksumValid(frame, ipLength, v6);
        if (!glueable)
        {
            Flush();
            WriteAlone(frame);
            return;
        }
        if (_length > 0 && Follows(frame, headers, ipLength, v6, payload))
        {
            frame[headers..].CopyTo(_packet.AsSpan(VirtioNet.HeaderLength + _length));
            _length += payload;
            _segments++;
            _nextSeq += (uint)payload;
            _push |= (flags & VirtioNet.Psh) != 0;
            if (payload < _mss || _push)
                Flush(); // a short segment or a push ends a burst
            return;
        }
        Flush();
        frame.CopyTo(_packet.AsSpan(VirtioNet.HeaderLength));
        (_length, _headers, _ipLength, _v6, _mss, _segments) = (frame.Length, headers, ipLength, v6, payload, 1);
        _nextSeq = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]) + (uint)payload;
        _push = (flags & VirtioNet.Psh) != 0;
        if (_push)
            Flush();
    }

    /// <summary>Whether a segment continues what is held: same headers but for the IP length, id and checksums and the sequence number.</summary>
    private bool Follows(ReadOnlySpan<byte> frame, int headers, int ipLength, bool v6, int payload)
    {
        if (headers != _headers || ipLength != _ipLength || v6 != _v6 || payload > _mss || _length + payload > MaxPacket)
            return false;
        var held = _packet.AsSpan(VirtioNet.HeaderLength, _headers);
        var tcpAt = EthernetLength + ipLength;
        if (BinaryPrimitives.ReadUInt32BigEndian(frame[(tcpAt + 4)..]) != _nextSeq)
            return false;
        // Ethernet header; IP: version/class/flow (v6) or version..tos (v4), then ttl/protocol (v4) or next/hop (v6), addresses.
        if (!frame[..EthernetLength].SequenceEqual(held[..EthernetLength]))
            return false;
        if (v6)
        {
            if (!frame.Slice(EthernetLength, 4).SequenceEqual(held.Slice(EthernetLength, 4))
                || !frame.Slice(EthernetLength + 6, 34).SequenceEqual(held.Slice(EthernetLength + 6, 34)))
                return false;
        }
        else if (!frame.Slice(EthernetLength, 2).SequenceEqual(held.Slice(EthernetLength, 2))
            || !frame.Slice(EthernetLength + 6, 4).SequenceEqual(held.Slice(EthernetLength + 6, 4)) // flags, ttl, protocol
            || !frame.Slice(EthernetLength + 12, ipLength - 12).SequenceEqual(held.Slice(EthernetLength + 12, ipLength - 12)))
            return false;
        // TCP: ports, then (after the sequence number) ack, offset, window, and options; flags and checksum may differ.
        return frame.Slice(tcpAt, 4).SequenceEqual(held.Slice(tcpAt, 4))
            && frame.Slice(tcpAt + 8, 5).SequenceEqual(held.Slice(tcpAt + 8, 5))
            && frame.Slice(tcpAt + 14, 2).SequenceEqual(held.Slice(tcpAt + 14, 2))
            && frame[(tcpAt + 18)..headers].SequenceEqual(held[(tcpAt + 18)..headers]);
    }

    private static bool LengthsAgree(ReadOnlySpan<byte> frame, int ipLength, bool v6)
    {
        var ip = frame[EthernetLength..];
        var said = v6 ? 40 + BinaryPrimitives.ReadUInt16BigEndian(ip[4..]) : BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        return said == ip.Length; // no Ethernet padding: only full-sized data segments are glued anyway
    }

    private static bool ChecksumValid(ReadOnlySpan<byte> frame, int ipLength, bool v6)
    {
        var ip = frame.Slice(EthernetLength, ipLength);
        var tcp = frame[(EthernetLength + ipLength)..];
        var sum = InternetChecksum.AddPseudoHeader(0, ip, v6, VirtioNet.Tcp, tcp.Length);
        return InternetChecksum.Fold(InternetChecksum.Add(sum, tcp)) == 0xffff;
    }

    /// <summary>Writes what is held: one segment as it came, several as one packet the stack will take as received in one piece.</summary>
    public void Flush()
    {
        if (_length == 0)
            return;
        var vnet = _packet.AsSpan(0, VirtioNet.HeaderLength);
        vnet.Clear();
        var packet = _packet.AsSpan(VirtioNet.HeaderLength, _length);
        if (_segments > 1)
        {
            var ip = packet.Slice(EthernetLength, _ipLength);
            var tcp = packet[(EthernetLength + _ipLength)..];
            if (_v6)
                BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)tcp.Length);
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(_ipLength + tcp.Length));
                InternetChecksum.SetIPv4Header(ip, _ipLength);
            }
            if (_push)
                tcp[13] |= VirtioNet.Psh;
            // The stack finishes the checksum: the field holds the pseudo-header's sum (CHECKSUM_PARTIAL).
            BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Fold(InternetChecksum.AddPseudoHeader(0, ip, _v6, VirtioNet.Tcp, tcp.Length)));
            vnet[0] = VirtioNet.NeedsChecksum;
            vnet[1] = _v6 ? VirtioNet.GsoTcpV6 : VirtioNet.GsoTcpV4;
            BinaryPrimitives.WriteUInt16LittleEndian(vnet[2..], (ushort)_headers);
            BinaryPrimitives.WriteUInt16LittleEndian(vnet[4..], (ushort)_mss);
            BinaryPrimitives.WriteUInt16LittleEndian(vnet[6..], (ushort)(EthernetLength + _ipLength));
            BinaryPrimitives.WriteUInt16LittleEndian(vnet[8..], 16);
        }
        else
            vnet[0] = VirtioNet.DataValid; // checked on the way in
        write(_packet.AsSpan(0, VirtioNet.HeaderLength + _length));
        _length = 0;
    }

    /// <summary>A frame as it came, for the stack to check.</summary>
    private void WriteAlone(ReadOnlySpan<byte> frame)
    {
        if (frame.Length > _packet.Length - VirtioNet.HeaderLength)
            return;
        _packet.AsSpan(0, VirtioNet.HeaderLength).Clear();
        frame.CopyTo(_packet.AsSpan(VirtioNet.HeaderLength));
        write(_packet.AsSpan(0, VirtioNet.HeaderLength + frame.Length));
    }
}
