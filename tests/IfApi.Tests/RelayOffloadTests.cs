using System.Buffers.Binary;
using IfApi.Relay;

namespace IfApi.Tests;

/// <summary>
/// The relay's side of the Linux tap's offloads: a TCP burst the host hands over in one piece is cut
/// into the frames its stack would have sent, and frames of one stream are glued back into one
/// piece for the host, with every length, sequence number and checksum as the stack expects.
/// </summary>
public sealed class RelayOffloadTests
{
    private const int Mss = 1448;
    private static readonly byte[] MacA = [0x02, 0, 0, 0, 0, 0xaa], MacB = [0x02, 0, 0, 0, 0, 0xbb];

    /// <summary>Frames collected from a segmenter.</summary>
    private sealed class Frames : IFrameSink
    {
        private byte[] _reserved = [];
        public List<byte[]> Items { get; } = [];

        public Span<byte> Reserve(int length) => _reserved = new byte[length];

        public void Commit(int length) => Items.Add(_reserved[..length]);
    }

    /// <summary>
    /// An Ethernet frame of TCP with a timestamp option (32 bytes of TCP header), IPv4 or IPv6,
    /// carrying <paramref name="payload"/>; the TCP checksum valid, or (partial) only the
    /// pseudo-header's sum as the host leaves it for the offload.
    /// </summary>
    private static byte[] TcpFrame(bool v6, byte[] payload, uint seq, byte flags = 0x18, ushort id = 100, bool partial = false, int srcPort = 5201)
    {
        var ipLength = v6 ? 40 : 20;
        var f = new byte[14 + ipLength + 32 + payload.Length];
        MacB.CopyTo(f, 0);
        MacA.CopyTo(f, 6);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), v6 ? (ushort)0x86dd : (ushort)0x0800);
        var ip = f.AsSpan(14, ipLength);
        if (v6)
        {
            ip[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(32 + payload.Length));
            ip[6] = 6;
            ip[7] = 64;
            ip[8] = 0xfd; ip[23] = 1;   // fd00::1
            ip[24] = 0xfd; ip[39] = 2;  // fd00::2
        }
        else
        {
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 32 + payload.Length));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
            ip[6] = 0x40; // DF
            ip[8] = 64;
            ip[9] = 6;
            byte[] src = [198, 18, 0, 1], dst = [198, 18, 0, 2];
            src.CopyTo(ip[12..]);
            dst.CopyTo(ip[16..]);
            InternetChecksum.SetIPv4Header(ip, 20);
        }
        var tcp = f.AsSpan(14 + ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, (ushort)srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 40000);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 777);
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 501);
        tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10; // NOP NOP TS
        BinaryPrimitives.WriteUInt32BigEndian(tcp[24..], 123456);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[28..], 654321);
        payload.CopyTo(tcp[32..]);
        var pseudo = InternetChecksum.AddPseudoHeader(0, ip, v6, 6, tcp.Length);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], partial
            ? InternetChecksum.Fold(pseudo)
            : (ushort)~InternetChecksum.Fold(InternetChecksum.Add(pseudo, tcp)));
        return f;
    }

    private static byte[] Vnet(byte flags, byte gso, int headers, int gsoSize, int csumStart, int csumOffset)
    {
        var v = new byte[VirtioNet.HeaderLength];
        v[0] = flags;
        v[1] = gso;
        BinaryPrimitives.WriteUInt16LittleEndian(v.AsSpan(2), (ushort)headers);
        BinaryPrimitives.WriteUInt16LittleEndian(v.AsSpan(4), (ushort)gsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(v.AsSpan(6), (ushort)csumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(v.AsSpan(8), (ushort)csumOffset);
        return v;
    }

    private static byte[] Payload(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + 3)).ToArray();

    private static bool TcpChecksumValid(byte[] frame, bool v6)
    {
        var ipLength = v6 ? 40 : 20;
        var ip = frame.AsSpan(14, ipLength);
        var tcp = frame.AsSpan(14 + ipLength);
        return InternetChecksum.Fold(InternetChecksum.Add(InternetChecksum.AddPseudoHeader(0, ip, v6, 6, tcp.Length), tcp)) == 0xffff;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_burst_is_cut_into_the_segments_the_stack_would_have_sent(bool v6)
    {
        var data = Payload(3 * Mss + 500);
        var burst = TcpFrame(v6, data, seq: 1000, flags: 0x19 /* ACK PSH FIN */, partial: true);
        var ipLength = v6 ? 40 : 20;
        var frames = new Frames();
        var vnet = Vnet(VirtioNet.NeedsChecksum, v6 ? VirtioNet.GsoTcpV6 : VirtioNet.GsoTcpV4, 14 + ipLength + 32, Mss, 14 + ipLength, 16);

        Assert.Equal(4, VirtioNet.Segment(vnet, burst, frames));
        var glued = new List<byte>();
        for (var i = 0; i < 4; i++)
        {
            var f = frames.Items[i];
            var ip = f.AsSpan(14, ipLength);
            var tcp = f.AsSpan(14 + ipLength);
            var length = i < 3 ? Mss : 500;
            Assert.Equal(14 + ipLength + 32 + length, f.Length);
            Assert.Equal(1000u + (uint)(i * Mss), BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
            Assert.Equal(i < 3 ? 0x10 : 0x19, tcp[13]); // PSH and FIN on the last alone
            Assert.True(TcpChecksumValid(f, v6), $"segment {i}'s TCP checksum");
            if (v6)
                Assert.Equal(32 + length, BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
            else
            {
                Assert.Equal(20 + 32 + length, BinaryPrimitives.ReadUInt16BigEndian(ip[2..]));
                Assert.Equal(100 + i, BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
                Assert.Equal(0xffff, InternetChecksum.Fold(InternetChecksum.Add(0, ip)));
            }
            glued.AddRange(tcp[32..].ToArray());
        }
        Assert.Equal(data, glued);
    }

    [Fact]
    public void A_frame_whose_checksum_was_left_to_the_relay_gets_it()
    {
        var frame = TcpFrame(false, Payload(100), seq: 5, partial: true);
        var frames = new Frames();
        Assert.Equal(1, VirtioNet.Segment(Vnet(VirtioNet.NeedsChecksum, VirtioNet.GsoNone, 0, 0, 34, 16), frame, frames));
        Assert.True(TcpChecksumValid(frames.Items[0], v6: false));
        Assert.Equal(TcpFrame(false, Payload(100), seq: 5), frames.Items[0]);
    }

    [Fact]
    public void What_cannot_be_cut_is_refused_not_sent_too_long()
    {
        var udpLike = TcpFrame(false, Payload(3000), seq: 5);
        udpLike[14 + 9] = 17; // not TCP, yet marked as a TCP burst
        Assert.Equal(0, VirtioNet.Segment(Vnet(0, VirtioNet.GsoTcpV4, 66, Mss, 34, 16), udpLike, new Frames()));
    }

    private static List<byte[]> Glue(params byte[][] frames)
    {
        var written = new List<byte[]>();
        var coalescer = new Coalescer(bytes => written.Add(bytes.ToArray()));
        foreach (var f in frames)
            coalescer.Add(f);
        coalescer.Flush();
        return written;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Consecutive_segments_of_one_stream_go_to_the_host_as_one(bool v6)
    {
        var data = Payload(3 * Mss + 200);
        var segments = Enumerable.Range(0, 4).Select(i =>
            TcpFrame(v6, data[(i * Mss)..Math.Min(data.Length, (i + 1) * Mss)], seq: 9000 + (uint)(i * Mss), flags: i == 3 ? (byte)0x18 : (byte)0x10, id: (ushort)(50 + i))).ToArray();

        var written = Assert.Single(Glue(segments));
        var ipLength = v6 ? 40 : 20;
        var vnet = written.AsSpan(0, VirtioNet.HeaderLength);
        Assert.Equal(VirtioNet.NeedsChecksum, vnet[0]);
        Assert.Equal(v6 ? VirtioNet.GsoTcpV6 : VirtioNet.GsoTcpV4, vnet[1]);
        Assert.Equal(14 + ipLength + 32, BinaryPrimitives.ReadUInt16LittleEndian(vnet[2..]));
        Assert.Equal(Mss, BinaryPrimitives.ReadUInt16LittleEndian(vnet[4..]));
        Assert.Equal(14 + ipLength, BinaryPrimitives.ReadUInt16LittleEndian(vnet[6..]));
        Assert.Equal(16, BinaryPrimitives.ReadUInt16LittleEndian(vnet[8..]));

        var packet = written[VirtioNet.HeaderLength..];
        Assert.Equal(data, packet[(14 + ipLength + 32)..]);
        var ip = packet.AsSpan(14, ipLength);
        if (v6)
            Assert.Equal(32 + data.Length, BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
        else
        {
            Assert.Equal(20 + 32 + data.Length, BinaryPrimitives.ReadUInt16BigEndian(ip[2..]));
            Assert.Equal(0xffff, InternetChecksum.Fold(InternetChecksum.Add(0, ip)));
        }
        Assert.Equal(0x18, packet[14 + ipLength + 13]); // the push of the last
        // The host finishes the checksum from the pseudo-header's sum left in the field.
        var tcp = packet.AsSpan(14 + ipLength);
        var finished = (ushort)~InternetChecksum.Fold(InternetChecksum.Add(0, tcp));
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], finished);
        Assert.True(TcpChecksumValid(packet, v6));
    }

    [Fact]
    public void Only_what_truly_continues_is_glued()
    {
        var a = TcpFrame(false, Payload(Mss), seq: 0, flags: 0x10);
        var gap = TcpFrame(false, Payload(Mss), seq: 2 * Mss, flags: 0x10);
        var otherFlow = TcpFrame(false, Payload(Mss), seq: 3 * Mss, flags: 0x10, srcPort: 1234);
        var corrupt = TcpFrame(false, Payload(Mss), seq: 3 * Mss, flags: 0x10);
        corrupt[^1] ^= 0xff;
        var written = Glue(a, gap, otherFlow, corrupt);
        Assert.Equal(4, written.Count);
        Assert.All(written, w => Assert.Equal(VirtioNet.GsoNone, w[1]));
        Assert.Equal(corrupt, written[3][VirtioNet.HeaderLength..]); // left for the stack to refuse
        Assert.Equal(0, written[3][0]); // and not vouched for
    }

    [Fact]
    public void Frames_that_are_not_TCP_pass_alone_and_as_they_were()
    {
        var arp = new byte[60];
        MacB.CopyTo(arp, 0);
        (arp[12], arp[13]) = (0x08, 0x06);
        var written = Assert.Single(Glue(arp));
        Assert.Equal(new byte[VirtioNet.HeaderLength], written[..VirtioNet.HeaderLength]);
        Assert.Equal(arp, written[VirtioNet.HeaderLength..]);
    }
}
