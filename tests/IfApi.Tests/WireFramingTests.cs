using System.Net.WebSockets;
using IfApi.Frames.Wire;

namespace IfApi.Tests;

/// <summary>The wire framing the service and ifapi-relay share, without a socket.</summary>
public sealed class WireFramingTests
{
    private static byte[] Bytes(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + seed)).ToArray();

    private static byte[] Batch(params byte[][] frames)
    {
        var batch = new byte[frames.Sum(f => BatchFraming.RecordLength(f.Length))];
        var at = 0;
        foreach (var f in frames)
            at += BatchFraming.WriteRecord(batch.AsSpan(at), f);
        Assert.Equal(batch.Length, at);
        return batch;
    }

    private static List<byte[]> ReadAll(ReadOnlySpan<byte> records, out int consumed, out bool partial)
    {
        var frames = new List<byte[]>();
        var reader = new BatchReader(records);
        while (reader.TryRead(out var frame))
            frames.Add(frame.ToArray());
        (consumed, partial) = (reader.Consumed, reader.HasPartialRecord);
        return frames;
    }

    [Fact]
    public void Records_read_back_as_the_frames_written_from_empty_to_the_longest()
    {
        byte[][] frames = [[], Bytes(1, 1), Bytes(60, 2), Bytes(1514, 3), Bytes(BatchFraming.MaxFrame, 4)];
        var batch = Batch(frames);
        Assert.Equal([0x00, 0x3c], batch.AsSpan(BatchFraming.RecordLength(0) + BatchFraming.RecordLength(1), 2).ToArray()); // the 60-byte frame's length, big-endian

        Assert.Equal(frames, ReadAll(batch, out var consumed, out var partial));
        Assert.Equal(batch.Length, consumed);
        Assert.False(partial);
    }

    [Fact]
    public void Records_split_anywhere_across_reads_come_out_whole_once_the_rest_arrives()
    {
        byte[][] frames = [Bytes(60, 1), Bytes(3, 2), Bytes(300, 3)];
        var batch = Batch(frames);
        for (var split = 0; split <= batch.Length; split++)
        {
            // As the session reads a message in parts: what a read leaves over goes in front of the next.
            var first = ReadAll(batch.AsSpan(0, split), out var consumed, out _);
            var rest = ReadAll(batch.AsSpan(consumed), out var restConsumed, out var partial);
            Assert.Equal(frames, first.Concat(rest));
            Assert.Equal(batch.Length, consumed + restConsumed);
            Assert.False(partial);
        }
    }

    [Theory]
    [InlineData(1)]      // half a length
    [InlineData(2)]      // a length and none of its frame
    [InlineData(2 + 59)] // a frame one byte short
    public void A_record_cut_short_is_left_unread_and_said_to_be_there(int kept)
    {
        var batch = Batch(Bytes(10, 1), Bytes(60, 2));
        var cut = batch.AsSpan(0, BatchFraming.RecordLength(10) + kept);
        var frames = ReadAll(cut, out var consumed, out var partial);
        Assert.Equal([Bytes(10, 1)], frames);
        Assert.Equal(BatchFraming.RecordLength(10), consumed);
        Assert.True(partial);
    }

    [Fact]
    public void A_frame_longer_than_a_two_byte_length_is_no_record()
    {
        Assert.True(BatchFraming.Fits(65535));
        Assert.False(BatchFraming.Fits(65536));
        Assert.Throws<ArgumentOutOfRangeException>(() => BatchFraming.WriteRecord(new byte[2 + 65536], new byte[65536]));
    }

    [Theory]
    [InlineData(0, 2, 0)]
    [InlineData(125, 2, 125)]
    [InlineData(126, 4, 126)]
    [InlineData(65535, 4, 126)]
    [InlineData(65536, 10, 127)]
    public void A_header_takes_2_4_or_10_bytes_by_the_payload_and_a_client_adds_its_masking_key(int payload, int length, int lengthByte)
    {
        var server = new byte[WebSocketFrames.MaxServerHeader];
        Assert.Equal(length, WebSocketFrames.WriteHeader(server, WebSocketOpcode.Binary, payload));
        Assert.Equal(length, WebSocketFrames.HeaderLength(payload));
        Assert.Equal((0x82, lengthByte), (server[0], server[1])); // FIN, binary; unmasked

        var client = new byte[WebSocketFrames.MaxClientHeader];
        Assert.Equal(length + 4, WebSocketFrames.WriteMaskedHeader(client, WebSocketOpcode.Binary, payload, 0x04030201));
        Assert.Equal(length + 4, WebSocketFrames.HeaderLength(payload, masked: true));
        Assert.Equal((0x82, 0x80 | lengthByte), (client[0], client[1]));
        Assert.Equal([1, 2, 3, 4], client[length..(length + 4)]);

        Assert.True(WebSocketFrames.TryReadHeader(client.AsSpan(0, length + 4), out var read));
        Assert.Equal(new WebSocketFrameHeader(true, WebSocketOpcode.Binary, true, length + 4, payload), read);
        Assert.False(WebSocketFrames.TryReadHeader(client.AsSpan(0, length + 3), out _)); // not all of it yet
        Assert.True(WebSocketFrames.TryReadHeader(server.AsSpan(0, length), out read));
        Assert.Equal(new WebSocketFrameHeader(true, WebSocketOpcode.Binary, false, length, payload), read);
    }

    [Theory]
    [InlineData(125, false)]
    [InlineData(126, false)]
    [InlineData(65535, false)]
    [InlineData(65536, false)]
    [InlineData(125, true)]
    [InlineData(126, true)]
    [InlineData(65535, true)]
    [InlineData(65536, true)]
    public async Task A_frame_framed_here_is_the_message_a_standard_WebSocket_reads(int payload, bool fromClient)
    {
        var message = Bytes(payload, 5);
        var wire = new byte[WebSocketFrames.MaxClientHeader + payload];
        var header = fromClient
            ? WebSocketFrames.WriteMaskedHeader(wire, WebSocketOpcode.Binary, payload, 0x9e3779b9)
            : WebSocketFrames.WriteHeader(wire, WebSocketOpcode.Binary, payload);
        message.CopyTo(wire, header);
        if (fromClient)
            WebSocketFrames.Mask(wire.AsSpan(header, payload), wire.AsSpan(header - 4, 4));
        Assert.Equal(fromClient, !message.AsSpan().SequenceEqual(wire.AsSpan(header, payload))); // masked on the wire

        // The runtime's WebSocket reads it as the other side: a server reads a client's frame.
        using var stream = new MemoryStream(wire, 0, header + payload);
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = fromClient });
        var received = new byte[payload + 1];
        var result = await socket.ReceiveAsync(received.AsMemory(), CancellationToken.None);
        var count = result.Count;
        while (!result.EndOfMessage)
        {
            result = await socket.ReceiveAsync(received.AsMemory(count), CancellationToken.None);
            count += result.Count;
        }
        Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
        Assert.Equal(message, received[..count]);
    }
}
