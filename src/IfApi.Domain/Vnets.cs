namespace IfApi.Domain;

/// <summary>Virtual network stacks (VIMAGE): their names, and the host's.</summary>
public static class Vnets
{
    /// <summary>The host's stack (<c>vnet0</c>): it always exists and cannot be deleted.</summary>
    public const string Host = "host";

    /// <summary>The longest vnet name, in bytes (ASCII only).</summary>
    public const int MaxLength = 15;

    /// <summary>The default of <c>Vnets:MaxInterfaces</c>: how many interfaces a vnet holds at most.</summary>
    public const int DefaultMaxInterfaces = 1024;

    /// <summary>A vnet name: 1–15 of <c>a-z0-9_-</c>, starting with a letter.</summary>
    public static void Validate(string? name)
    {
        if (Problem(name) is { } p)
            throw new IfError(p.Errno, p.Detail);
    }

    /// <summary>Whether <paramref name="name"/> could name a vnet (a name that cannot is never found).</summary>
    public static bool IsValid(string? name) => Problem(name) is null;

    private static (Errno Errno, string Detail)? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return (Errno.EINVAL, "vnet name is empty");
        if (name.Length > MaxLength)
            return (Errno.ENAMETOOLONG, $"vnet name is longer than {MaxLength} characters");
        if (!char.IsAsciiLetterLower(name[0]) || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-'))
            return (Errno.EINVAL, $"vnet name '{name}' is not 1-{MaxLength} of a-z, 0-9, '_' and '-', starting with a letter");
        return null;
    }

    /// <summary>A vnet's quota, <c>maxInterfaces</c>: 1 up to the index pool's size.</summary>
    public static void ValidateMaxInterfaces(int max)
    {
        if (max < 1)
            throw new IfError(Errno.EINVAL, "maxInterfaces must be at least 1");
    }
}
