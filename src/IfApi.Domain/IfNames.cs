using System.Text;

namespace IfApi.Domain;

/// <summary>Rules for interface names (<c>if_xname</c>) and the unit suffix (<c>ifc_name2unit</c>).</summary>
public static class IfNames
{
    /// <summary>IFNAMSIZ is 16 bytes including the terminating NUL.</summary>
    public const int MaxBytes = 15;

    /// <summary>
    /// Checks a name an interface could carry. The kernel only forbids the empty name and bounds the
    /// length; we also refuse characters that cannot travel in a URL path segment or a log line
    /// ('/', '%', whitespace, control characters), because every name is also a <c>{ref}</c>.
    /// </summary>
    public static void Validate(string? name, string? ioctl = null)
    {
        if (string.IsNullOrEmpty(name))
            throw new IfError(Errno.EINVAL, "interface name is empty", ioctl);
        if (!IsPrintable(name))
            throw new IfError(Errno.EINVAL, "interface name contains a character that is not allowed", ioctl);
        if (Encoding.UTF8.GetByteCount(name) > MaxBytes)
            throw new IfError(Errno.ENAMETOOLONG, $"interface name is longer than {MaxBytes} bytes", ioctl);
    }

    /// <summary>No control or white-space characters, no URL delimiters, no lone surrogates.</summary>
    internal static bool IsPrintable(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (char.IsControl(c) || char.IsWhiteSpace(c) || c is '/' or '%' or '?' or '#' or '\\')
                return false;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                i++;
            else if (char.IsSurrogate(c))
                return false;
        }
        return true;
    }

    /// <summary>
    /// <c>ifc_name2unit</c> applied to what follows the cloner name: nothing is a wildcard (null);
    /// otherwise decimal digits with no leading zero that fit in an int. Returns EINVAL as the
    /// kernel does for a leading zero, a non-digit or an overflow.
    /// </summary>
    public static bool TryParseUnit(ReadOnlySpan<char> suffix, out int? unit, out Errno error)
    {
        unit = null;
        error = default;
        if (suffix.IsEmpty)
            return true;
        if (suffix[0] == '0' && suffix.Length > 1)
        {
            error = Errno.EINVAL; // "Disallow leading zeroes."
            return false;
        }
        const int cutoff = int.MaxValue / 10, cutlim = int.MaxValue % 10;
        var value = 0;
        foreach (var c in suffix)
        {
            if (c is < '0' or > '9' || value > cutoff || value == cutoff && c - '0' > cutlim)
            {
                error = Errno.EINVAL;
                return false;
            }
            value = value * 10 + (c - '0');
        }
        unit = value;
        return true;
    }

    /// <summary>True when every character is an ASCII digit (the tail <c>ifc_simple_match</c> accepts).</summary>
    public static bool AllDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (c is < '0' or > '9')
                return false;
        return true;
    }
}
