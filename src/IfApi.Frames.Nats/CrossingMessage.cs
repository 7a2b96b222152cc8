using System.Buffers.Binary;

namespace IfApi.Frames.Nats;

/// <summary>
/// One NATS message between replicas: a header saying how its frames arrive (<see cref="Arrival"/>),
/// which replica sent them and for which bridge or device, then one or more frames, each after its
/// length as four bytes, big-endian (a jumbo frame does not fit two).
/// </summary>
/// <remarks>
/// <code>
/// 0      version (1)
/// 1      arrival: 1 flood, 2 unicast, 3 device
/// 2..17  origin replica (Guid, as Guid.TryWriteBytes writes it)
/// 18..33 target bridge or tap (Guid)
/// 34..   records: length (uint32 BE), frame
/// </code>
/// </remarks>
public static class CrossingMessage
{
    public const byte Version = 1;

    public const int HeaderLength = 34;

    public const int LengthBytes = 4;

    public static void WriteHeader(Span<byte> to, Arrival how, Guid origin, Guid target)
    {
        to[0] = Version;
        to[1] = (byte)how;
        origin.TryWriteBytes(to[2..18]);
        target.TryWriteBytes(to[18..34]);
    }

    /// <summary>Writes one record; returns the bytes it took.</summary>
    public static int WriteRecord(Span<byte> to, ReadOnlySpan<byte> frame)
    {
        BinaryPrimitives.WriteUInt32BigEndian(to, (uint)frame.Length);
        frame.CopyTo(to[LengthBytes..]);
        return LengthBytes + frame.Length;
    }

    /// <summary>Reads the header; false when the message is not one this version reads.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> message, out Arrival how, out Guid origin, out Guid target)
    {
        how = default;
        origin = target = default;
        if (message.Length < HeaderLength || message[0] != Version || message[1] is < (byte)Arrival.Flood or > (byte)Arrival.Device)
            return false;
        how = (Arrival)message[1];
        origin = new Guid(message[2..18]);
        target = new Guid(message[18..34]);
        return true;
    }

    /// <summary>
    /// The next record's frame at <paramref name="offset"/>, moving past it; false at the end, or
    /// when what is left is not a whole record (<paramref name="malformed"/> then says so).
    /// </summary>
    public static bool TryReadRecord(ReadOnlySpan<byte> message, ref int offset, out ReadOnlySpan<byte> frame, out bool malformed)
    {
        frame = default;
        malformed = false;
        if (offset == message.Length)
            return false;
        if (message.Length - offset < LengthBytes)
        {
            malformed = true;
            return false;
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(message[offset..]);
        if (length > (uint)(message.Length - offset - LengthBytes) || length > Frame.MaxLength)
        {
            malformed = true;
            return false;
        }
        frame = message.Slice(offset + LengthBytes, (int)length);
        offset += LengthBytes + (int)length;
        return true;
    }
}
