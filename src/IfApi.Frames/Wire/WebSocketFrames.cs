using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace IfApi.Frames.Wire;

/// <summary>A WebSocket frame's opcode (RFC 6455, section 5.2).</summary>
public enum WebSocketOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>A frame's header as read.</summary>
/// <param name="Final">FIN: the last frame of its message.</param>
/// <param name="Opcode">What the frame is.</param>
/// <param name="Masked">Whether a masking key follows the length (a client's frame).</param>
/// <param name="Length">The header's bytes, the masking key's included.</param>
/// <param name="Payload">The payload's bytes after it; negative when the 64-bit length does not fit a long.</param>
public readonly record struct WebSocketFrameHeader(bool Final, WebSocketOpcode Opcode, bool Masked, int Length, long Payload)
{
    /// <summary>The masking key: the header's last four bytes, when <see cref="Masked"/>.</summary>
    public Range MaskingKey => (Length - WebSocketFrames.MaskingKeyBytes)..Length;
}

/// <summary>
/// RFC 6455 data frames (section 5.2) framed in place, so that many go side by side into one buffer
/// and one write: a server's, unmasked, as the service writes its devices' messages, and a client's,
/// masked (section 5.3), as ifapi-relay writes them. Every frame written here is whole (FIN): no
/// side fragments a message.
/// </summary>
public static class WebSocketFrames
{
    /// <summary>The most a server's header takes: two bytes and a 64-bit length.</summary>
    public const int MaxServerHeader = 10;

    public const int MaskingKeyBytes = 4;

    /// <summary>The most a client's header takes: a server's and the masking key.</summary>
    public const int MaxClientHeader = MaxServerHeader + MaskingKeyBytes;

    /// <summary>How long the header of a frame of <paramref name="payload"/> bytes is: 2, 4 or 10 bytes, and the masking key's 4 when <paramref name="masked"/>.</summary>
    public static int HeaderLength(int payload, bool masked = false) =>
        (payload <= 125 ? 2 : payload <= ushort.MaxValue ? 4 : 10) + (masked ? MaskingKeyBytes : 0);

    /// <summary>Writes the header of a server's final frame of <paramref name="payload"/> bytes; returns its length.</summary>
    public static int WriteHeader(Span<byte> to, WebSocketOpcode opcode, int payload) => WriteLength(to, opcode, payload, maskBit: 0);

    /// <summary>
    /// Writes the header of a client's final frame of <paramref name="payload"/> bytes, with
    /// <paramref name="maskingKey"/>; returns its length. The payload is masked with <see cref="Mask"/>
    /// and the header's last four bytes.
    /// </summary>
    public static int WriteMaskedHeader(Span<byte> to, WebSocketOpcode opcode, int payload, uint maskingKey)
    {
        var at = WriteLength(to, opcode, payload, maskBit: 0x80);
        BinaryPrimitives.WriteUInt32LittleEndian(to[at..], maskingKey);
        return at + MaskingKeyBytes;
    }

    private static int WriteLength(Span<byte> to, WebSocketOpcode opcode, int payload, byte maskBit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payload);
        to[0] = (byte)(0x80 | (byte)opcode); // FIN
        if (payload <= 125)
        {
            to[1] = (byte)(maskBit | payload);
            return 2;
        }
        if (payload <= ushort.MaxValue)
        {
            to[1] = (byte)(maskBit | 126);
            BinaryPrimitives.WriteUInt16BigEndian(to[2..], (ushort)payload);
            return 4;
        }
        to[1] = (byte)(maskBit | 127);
        BinaryPrimitives.WriteUInt64BigEndian(to[2..], (ulong)payload);
        return 10;
    }

    /// <summary>
    /// Masks a payload with its frame's four-byte masking key, or unmasks it: the same exclusive or
    /// (section 5.3). Eight bytes at a time.
    /// </summary>
    public static void Mask(Span<byte> payload, ReadOnlySpan<byte> maskingKey)
    {
        Span<byte> eight = stackalloc byte[8];
        maskingKey[..MaskingKeyBytes].CopyTo(eight);
        maskingKey[..MaskingKeyBytes].CopyTo(eight[4..]);
        var pattern = MemoryMarshal.Read<ulong>(eight);
        var words = MemoryMarshal.Cast<byte, ulong>(payload);
        for (var i = 0; i < words.Length; i++)
            words[i] ^= pattern;
        for (var i = words.Length * 8; i < payload.Length; i++)
            payload[i] ^= maskingKey[i & 3];
    }

    /// <summary>Reads the header at the start of <paramref name="held"/>; false while not all of it is there.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> held, out WebSocketFrameHeader header)
    {
        header = default;
        if (held.Length < 2)
            return false;
        var masked = (held[1] & 0x80) != 0;
        long payload = held[1] & 0x7f;
        var length = 2 + (payload == 126 ? 2 : payload == 127 ? 8 : 0) + (masked ? MaskingKeyBytes : 0);
        if (held.Length < length)
            return false;
        if (payload == 126)
            payload = BinaryPrimitives.ReadUInt16BigEndian(held[2..]);
        else if (payload == 127)
            payload = (long)BinaryPrimitives.ReadUInt64BigEndian(held[2..]);
        header = new WebSocketFrameHeader((held[0] & 0x80) != 0, (WebSocketOpcode)(held[0] & 0x0f), masked, length, payload);
        return true;
    }
}
