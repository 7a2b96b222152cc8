using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace IfApi.Auth;

/// <summary>
/// With no keys the service is open, so it must not be reachable from elsewhere: every address it
/// was told to listen on (<c>urls</c>, <c>http_ports</c>, <c>Kestrel:Endpoints</c>) is turned into
/// the same port on 127.0.0.1; once started it stops if it listens anywhere else all the same (an
/// endpoint added by a configuration reload, say), and a request that arrives on any other address
/// is refused.
/// </summary>
internal static class LoopbackOnly
{
    public static void Restrict(WebApplicationBuilder builder)
    {
        var web = builder.WebHost;
        var urls = web.GetSetting(WebHostDefaults.ServerUrlsKey);
        if (string.IsNullOrWhiteSpace(urls))
        {
            // Kestrel reads the ports only when no URLs are given; turn them into URLs on loopback.
            var ports = new[] { ("http", web.GetSetting(WebHostDefaults.HttpPortsKey)), ("https", web.GetSetting(WebHostDefaults.HttpsPortsKey)) }
                .SelectMany(p => (p.Item2 ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(port => $"{p.Item1}://*:{port}"));
            urls = string.Join(';', ports);
        }
        if (!string.IsNullOrWhiteSpace(urls))
            web.UseSetting(WebHostDefaults.ServerUrlsKey, RestrictUrls(urls));

        var endpoints = builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Where(e => e["Url"] is { Length: > 0 })
            .ToDictionary(e => $"Kestrel:Endpoints:{e.Key}:Url", e => (string?)RestrictUrls(e["Url"]!));
        if (endpoints.Count > 0)
            builder.Configuration.AddInMemoryCollection(endpoints);
    }

    /// <summary>Each URL of a <c>;</c>-separated list with its host made 127.0.0.1 unless it already is loopback.</summary>
    public static string RestrictUrls(string urls) =>
        string.Join(';', urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(RestrictUrl));

    private static string RestrictUrl(string url)
    {
        // Parsed as Kestrel parses it (the port after the last colon), so what is checked is what binds.
        var address = Parse(url);
        if (address.IsUnixPipe || address.IsNamedPipe || IsLoopbackHost(address.Host))
            return url;
        return $"{address.Scheme}://127.0.0.1:{address.Port}{address.PathBase}";
    }

    public static bool IsLoopbackUrl(string url)
    {
        var address = Parse(url);
        return address.IsUnixPipe || address.IsNamedPipe || IsLoopbackHost(address.Host);
    }

    private static BindingAddress Parse(string url)
    {
        try
        {
            return BindingAddress.Parse(url);
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"'{url}' is not an address to listen on: {e.Message}", e);
        }
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);

    /// <summary>Whether a connection arrived on a loopback address (or a Unix socket, which has none).</summary>
    public static bool IsLocal(ConnectionInfo connection) =>
        connection.LocalIpAddress is not { } local
        || IPAddress.IsLoopback(local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local);

    /// <summary>Where the server listens, once it does (nothing under the in-memory test server).</summary>
    public static IReadOnlyCollection<string> Addresses(WebApplication app) =>
        app.Services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

}
