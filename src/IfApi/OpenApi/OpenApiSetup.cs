using System.Reflection;

namespace IfApi.OpenApi;

/// <summary>Swagger UI at /swagger; the same document is written to openapi/v1.json by the build.</summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddIfOpenApi(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new()
            {
                Title = "IfApi",
                Version = "v1",
                Description = "Virtual network interfaces managed the way the BSD interface-cloning layer does. Errors are RFC 9457 problem+json with the BSD `errno`.",
            });
            var xml = Path.Combine(AppContext.BaseDirectory, $"{Assembly.GetExecutingAssembly().GetName().Name}.xml");
            if (File.Exists(xml))
                o.IncludeXmlComments(xml);
        });
        return services;
    }

    public static WebApplication UseIfOpenApi(this WebApplication app)
    {
        app.UseSwagger();
        app.UseSwaggerUI(o =>
        {
            o.RoutePrefix = "swagger";
            o.SwaggerEndpoint("/swagger/v1/swagger.json", "IfApi v1");
        });
        return app;
    }
}
