using System.Text;

namespace IfApi.Domain;

/// <summary>Interface group names (<c>if_addgroup</c>): every interface is in <c>all</c>.</summary>
public static class GroupNames
{
    public const string All = "all";

    /// <summary>if_addgroup refuses a group name ending in a digit so it cannot be taken for an interface.</summary>
    public static void Validate(string? group, string? ioctl = null)
    {
        if (string.IsNullOrEmpty(group))
            throw new IfError(Errno.EINVAL, "group name is empty", ioctl);
        if (!IfNames.IsPrintable(group))
            throw new IfError(Errno.EINVAL, "group name contains a character that is not allowed", ioctl);
        if (Encoding.UTF8.GetByteCount(group) > IfNames.MaxBytes)
            throw new IfError(Errno.ENAMETOOLONG, $"group name is longer than {IfNames.MaxBytes} bytes", ioctl);
        if (char.IsAsciiDigit(group[^1]))
            throw new IfError(Errno.EINVAL, "group name must not end in a digit", ioctl);
    }
}
