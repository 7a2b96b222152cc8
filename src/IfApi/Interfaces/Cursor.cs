using System.Buffers.Text;
using System.Globalization;
using System.Text;
using IfApi.Domain;

namespace IfApi.Interfaces;

/// <summary>
/// The opaque <c>after</c>/<c>next</c> cursor: the last index seen. Keyset on the index never skips
/// or repeats an interface that exists for the whole walk, because an interface's index never changes.
/// </summary>
public static class Cursor
{
    private const string Prefix = "i1:";

    public static string Encode(int index) =>
        Base64Url.EncodeToString(Encoding.ASCII.GetBytes(Prefix + index.ToString(CultureInfo.InvariantCulture)));

    public static int Decode(string? cursor, string ioctl)
    {
        if (cursor is null)
            return 0;
        try
        {
            var text = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(cursor));
            if (text.StartsWith(Prefix, StringComparison.Ordinal)
                && int.TryParse(text.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                return index;
        }
        catch (FormatException)
        {
        }
        throw new IfError(Errno.EINVAL, "'after' is not a cursor this service issued", ioctl);
    }
}
