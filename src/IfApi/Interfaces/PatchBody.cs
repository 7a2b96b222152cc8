using System.Text.Json;
using IfApi.Domain;

namespace IfApi.Interfaces;

/// <summary>
/// A JSON merge patch of an interface (RFC 7396) as an <see cref="InterfacePatch"/>. A member that is
/// absent is not asked for; <c>description: null</c> clears the description; any other null, a
/// wrong type or an unknown member refuses the whole patch with EINVAL.
/// </summary>
public static class PatchBody
{
    /// <summary>
    /// Reads the request's body as a patch. Bound by hand (a handler parameter of type
    /// <see cref="MergePatch"/>) so that a null keeps its meaning and the document shows the patch's
    /// own schema, <see cref="PatchInterfaceRequest"/>, rather than "any JSON".
    /// </summary>
    public static async ValueTask<InterfacePatch> ReadAsync(HttpRequest request)
    {
        if (!request.HasJsonContentType())
            throw new BadHttpRequestException("a patch is application/merge-patch+json or application/json", StatusCodes.Status415UnsupportedMediaType);
        var body = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        return Parse(body);
    }

    public static InterfacePatch Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new IfError(Errno.EINVAL, "a patch is a JSON object");
        try
        {
            return Members(body);
        }
        catch (InvalidOperationException e)
        {
            // The reader checks structure, not text: a member's name or string that is not valid UTF-8
            // (or escapes a lone surrogate) fails only when it is read as a string.
            throw new IfError(Errno.EINVAL, $"names and strings in a patch must be valid Unicode text: {e.Message}");
        }
    }

    private static InterfacePatch Members(JsonElement body)
    {
        var p = new InterfacePatch();
        foreach (var member in body.EnumerateObject())
        {
            var v = member.Value;
            p = member.Name switch
            {
                "name" => p with { Name = String(v, "name", Ioctl.SetName) },
                "description" => v.ValueKind == JsonValueKind.Null
                    ? p with { ClearsDescription = true, Description = null }
                    : p with { Description = String(v, "description", Ioctl.SetDescription), ClearsDescription = false },
                "mtu" => p with { Mtu = Int(v, "mtu", Ioctl.SetMtu) },
                "metric" => p with { Metric = Int(v, "metric", Ioctl.SetMetric) },
                "up" => p with { Up = v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Wrong("up", "true or false", Ioctl.SetFlags) },
                "flags" => p with { Flags = Flags(v) },
                "lladdr" => p with { Lladdr = String(v, "lladdr", Ioctl.SetLladdr) },
                "vnet" => p with { Vnet = String(v, "vnet", Ioctl.SetVnet) },
                _ => throw new IfError(Errno.EINVAL, $"'{member.Name}' cannot be patched; the members are name, description, mtu, metric, up, flags, lladdr and vnet"),
            };
        }
        return p;
    }

    private static string String(JsonElement v, string member, string ioctl) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Wrong(member, "a string", ioctl);

    private static int Int(JsonElement v, string member, string ioctl) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : throw Wrong(member, "a 32-bit integer", ioctl);

    /// <summary>The full set of changeable flags wanted, by the names the interface shows.</summary>
    private static IfFlags Flags(JsonElement v) =>
        v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(i => i.ValueKind == JsonValueKind.String)
            ? IfFlagNames.Parse(v.EnumerateArray().Select(i => i.GetString()), Ioctl.SetFlags)
            : throw Wrong("flags", "an array of flag names", Ioctl.SetFlags);

    private static IfError Wrong(string member, string expected, string ioctl) =>
        new(Errno.EINVAL, $"{member} must be {expected}", ioctl);
}

/// <summary>A JSON merge patch of an interface as a handler parameter (see <see cref="PatchBody.ReadAsync"/>).</summary>
public sealed record MergePatch(InterfacePatch Patch)
{
    public static async ValueTask<MergePatch?> BindAsync(HttpContext http) => new(await PatchBody.ReadAsync(http.Request));
}
