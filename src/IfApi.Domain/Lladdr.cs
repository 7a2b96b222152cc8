using System.Globalization;
using System.Security.Cryptography;

namespace IfApi.Domain;

/// <summary>A 48-bit Ethernet address, written as ifconfig prints it (<c>f2:0b:a4:12:34:56</c>).</summary>
public static class Lladdr
{
    /// <summary>Parses <c>xx:xx:xx:xx:xx:xx</c> (one or two hex digits a byte, as <c>ether_aton</c>) into the canonical form.</summary>
    public static bool TryParse(string? text, out string canonical)
    {
        canonical = "";
        if (text is null)
            return false;
        var parts = text.Split(':');
        if (parts.Length != 6)
            return false;
        Span<byte> bytes = stackalloc byte[6];
        for (var i = 0; i < 6; i++)
        {
            var p = parts[i];
            if (p.Length is < 1 or > 2 || !byte.TryParse(p, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bytes[i]))
                return false;
        }
        canonical = Format(bytes);
        return true;
    }

    /// <summary>A unicast station address: group bit clear and not all zeros.</summary>
    public static bool IsUnicast(string canonical) =>
        (Convert.ToByte(canonical[..2], 16) & 1) == 0 && canonical != "00:00:00:00:00:00";

    public static string Format(ReadOnlySpan<byte> b) =>
        string.Create(17, b.ToArray(), static (span, bytes) =>
        {
            for (var i = 0; i < 6; i++)
            {
                if (i > 0)
                    span[i * 3 - 1] = ':';
                bytes[i].TryFormat(span[(i * 3)..], out _, "x2", CultureInfo.InvariantCulture);
            }
        });

    /// <summary>NetBSD tap's default: the fixed prefix f2:0b:a4 and three random bytes.</summary>
    public static string NewTap() => WithPrefix(0xf2, 0x0b, 0xa4);

    /// <summary>A random locally administered unicast address (what bridge and static interfaces get).</summary>
    public static string NewLocal()
    {
        Span<byte> b = stackalloc byte[6];
        RandomNumberGenerator.Fill(b);
        b[0] = (byte)((b[0] & 0xfe) | 0x02);
        return Format(b);
    }

    /// <summary>epair's pattern: 02 then four random bytes then 0a or 0b for the end.</summary>
    public static string NewEpair(char end)
    {
        Span<byte> b = stackalloc byte[6];
        RandomNumberGenerator.Fill(b);
        b[0] = 0x02;
        b[5] = end == 'a' ? (byte)0x0a : (byte)0x0b;
        return Format(b);
    }

    private static string WithPrefix(byte a, byte b, byte c)
    {
        Span<byte> bytes = stackalloc byte[6];
        RandomNumberGenerator.Fill(bytes[3..]);
        bytes[0] = a;
        bytes[1] = b;
        bytes[2] = c;
        return Format(bytes);
    }
}
