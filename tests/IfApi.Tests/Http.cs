using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace IfApi.Tests;

/// <summary>Small helpers that keep the tests reading like the requests they make.</summary>
public static class Http
{
    public static Task<HttpResponseMessage> PostJson(this HttpClient c, string url, string json) =>
        c.PostAsync(url, new StringContent(json, Encoding.UTF8, "application/json"));

    public static Task<HttpResponseMessage> Create(this HttpClient c, string name, object? parameters = null) =>
        c.PostAsJsonAsync<object>("/v1/interfaces", parameters is null ? new { name } : new { name, @params = parameters });

    /// <summary>A JSON merge patch (RFC 7396), optionally conditional on an entity tag.</summary>
    public static Task<HttpResponseMessage> Patch(this HttpClient c, string reference, string json, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/interfaces/{reference}")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/merge-patch+json"),
        };
        if (ifMatch is not null)
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        return c.SendAsync(request);
    }

    /// <summary>
    /// A WebSocket upgrade sent as plain HTTP (with <paramref name="bearer"/>'s key, if any), so that a
    /// refused one's problem can be read.
    /// </summary>
    public static Task<HttpResponseMessage> Upgrade(this HttpClient c, string path, string? bearer = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Connection.Add("Upgrade");
        request.Headers.Upgrade.Add(new System.Net.Http.Headers.ProductHeaderValue("websocket"));
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        if (bearer is not null)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return c.SendAsync(request);
    }

    public static async Task<JsonElement> GetOk(this HttpClient c, string url) => await (await c.GetAsync(url)).Json();

    public static string[] Strings(this JsonElement e, string property) =>
        e.GetProperty(property).EnumerateArray().Select(x => x.GetString()!).ToArray();

    public static async Task<JsonElement> CreateOk(this HttpClient c, string name, object? parameters = null)
    {
        var r = await c.Create(name, parameters);
        return await r.Json(HttpStatusCode.Created);
    }

    public static async Task<JsonElement> Json(this HttpResponseMessage r, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"expected {(int)expected}, got {(int)r.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Asserts an RFC 9457 problem with the given status and errno, and returns it.</summary>
    public static async Task<JsonElement> Problem(this HttpResponseMessage r, HttpStatusCode status, string? errno)
    {
        // A stream that was expected to be refused (an event stream) must fail here, not hang reading.
        Assert.NotEqual("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == status, $"expected {(int)status}, got {(int)r.StatusCode}: {body}");
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        var p = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, p.GetProperty("status").GetInt32());
        if (errno is not null)
            Assert.Equal(errno, p.GetProperty("errno").GetString());
        return p;
    }

    public static string Str(this JsonElement e, string property) => e.GetProperty(property).GetString()!;
    public static int Int(this JsonElement e, string property) => e.GetProperty(property).GetInt32();

    public static string[] Names(this JsonElement list) =>
        list.GetProperty("items").EnumerateArray().Select(i => i.Str("name")).ToArray();

    /// <summary>A cloner name no other test uses: letters only, at most nine.</summary>
    public static string NewClonerName() =>
        "t" + new string(Guid.NewGuid().ToString("N").Where(char.IsAsciiDigit).Take(8).Select(d => (char)('a' + d - '0')).ToArray());

    public static async Task<string> AttachCloner(this HttpClient c, string kind = "tap", int? maxUnit = null, bool? noGroup = null, int? minIfs = null)
    {
        var name = NewClonerName();
        var r = await c.PostAsJsonAsync("/v1/cloners", new { name, kind, maxUnit, noGroup, minIfs });
        await r.Json(HttpStatusCode.Created);
        return name;
    }
}
